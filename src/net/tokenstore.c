/* The host-wide token store; see tokenstore.h. Invariant: the token file is only ever
 * replaced whole (rename of a complete 0600 temporary file), so a reader sees the old
 * token or the new one, never half of either. */
#include "net/tokenstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/sign.h"
#include "util/log.h"

#define FILE_MAGIC "fleetarc-token 1"
#define FILE_MAX 1024 /* a valid file is far smaller */

struct tokenstore {
  char *dir;
  char *lock_path;
  char *token_path;
  char *tmp_path;
  char credential[API_MD5_HEX_LEN + 1]; /* md5(salt + password_md5): tells a token of the
                                         * same credentials; no secret by itself */
  int lock_fd; /* -1 until the first lock_try */
  bool locked;
};

int tokenstore_dir_check(const char *dir, char *why, size_t n) {
  char dummy[8];
  if (!why || !n) {
    why = dummy;
    n = sizeof dummy;
  }
  why[0] = '\0';
  if (!dir || dir[0] == '\0') {
    snprintf(why, n, "no directory given");
    return -EINVAL;
  }
  char *path = strdup(dir);
  if (!path) return -ENOMEM;
  int rc = 0;
  /* mkdir -p: parents the way the umask wants them, the store itself 0700 */
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
      rc = -errno;
      snprintf(why, n, "cannot create %s: %s", path, strerror(errno));
      goto out;
    }
    *p = '/';
  }
  if (mkdir(path, 0700) != 0 && errno != EEXIST) {
    rc = -errno;
    snprintf(why, n, "cannot create it: %s", strerror(errno));
    goto out;
  }
  struct stat st;
  if (lstat(path, &st) != 0) {
    rc = -errno;
    snprintf(why, n, "%s", strerror(errno));
    goto out;
  }
  if (!S_ISDIR(st.st_mode)) {
    rc = -ENOTDIR;
    snprintf(why, n, "not a directory%s", S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
    goto out;
  }
  /* A directory of another user (a /tmp name taken first) could hand us its tokens or
   * read ours: refuse it. */
  if (st.st_uid != geteuid()) {
    rc = -EPERM;
    snprintf(why, n, "owned by uid %u, not by this user (uid %u)", (unsigned)st.st_uid,
             (unsigned)geteuid());
    goto out;
  }
  /* Others who may create or replace files in it could plant a token. It is never
   * chmod'ed: an existing folder (token_dir: . in /etc/fleetarc) is not ours to change. */
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    rc = -EPERM;
    snprintf(why, n, "group- or world-writable (mode %04o): make it 0700 or choose another "
             "api.token_dir", (unsigned)(st.st_mode & 07777));
    goto out;
  }
  if (access(path, W_OK | X_OK) != 0) {
    rc = -errno;
    snprintf(why, n, "not writable: %s", strerror(errno));
  }
out:
  free(path);
  return rc;
}

int tokenstore_dir_prepare(const char *dir) { return tokenstore_dir_check(dir, NULL, 0); }

int tokenstore_stem(const char *base_url, const char *account, char out[38]) {
  size_t lu = strlen(base_url), la = strlen(account);
  char *key = malloc(lu + la + 2);
  if (!key) return -ENOMEM;
  memcpy(key, base_url, lu);
  key[lu] = '\n'; /* neither a URL nor a name the codec sends holds one */
  memcpy(key + lu + 1, account, la + 1);
  char md5[API_MD5_HEX_LEN + 1];
  int rc = api_md5_hex(key, lu + la + 1, md5);
  free(key);
  if (rc) return rc;
  snprintf(out, 38, "acct-%s", md5);
  return 0;
}

#define CREDENTIAL_SALT "fleetarc token store\n"

tokenstore_t *tokenstore_new(const char *dir, const char *base_url, const char *account,
                             const char *password_md5) {
  char stem[38];
  if (!dir || !base_url || !account || !password_md5 || tokenstore_stem(base_url, account, stem) != 0)
    return NULL;
  tokenstore_t *ts = calloc(1, sizeof *ts);
  if (!ts) return NULL;
  ts->lock_fd = -1;
  char salted[sizeof CREDENTIAL_SALT + API_MD5_HEX_LEN + 1];
  int n = snprintf(salted, sizeof salted, "%s%s", CREDENTIAL_SALT, password_md5);
  int rc = n > 0 && (size_t)n < sizeof salted ? api_md5_hex(salted, (size_t)n, ts->credential) : -EINVAL;
  explicit_bzero(salted, sizeof salted);
  if (rc) goto fail;
  if (!(ts->dir = strdup(dir))) goto fail;
  if (asprintf(&ts->lock_path, "%s/%s.lock", dir, stem) < 0) {
    ts->lock_path = NULL;
    goto fail;
  }
  if (asprintf(&ts->token_path, "%s/%s.token", dir, stem) < 0) {
    ts->token_path = NULL;
    goto fail;
  }
  /* one temporary name per process: writers are serialised by the lock anyway, and a
   * leftover of a crashed process is simply overwritten by its pid's next owner */
  if (asprintf(&ts->tmp_path, "%s/%s.tmp.%ld", dir, stem, (long)getpid()) < 0) {
    ts->tmp_path = NULL;
    goto fail;
  }
  return ts;
fail:
  tokenstore_free(ts);
  return NULL;
}

void tokenstore_free(tokenstore_t *ts) {
  if (!ts) return;
  if (ts->lock_fd >= 0) close(ts->lock_fd); /* releases the flock */
  free(ts->dir);
  free(ts->lock_path);
  free(ts->token_path);
  free(ts->tmp_path);
  free(ts);
}

const char *tokenstore_token_path(const tokenstore_t *ts) { return ts->token_path; }

int tokenstore_lock_try(tokenstore_t *ts) {
  if (ts->locked) return 0;
  if (ts->lock_fd < 0) {
    ts->lock_fd = open(ts->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (ts->lock_fd < 0) return -errno;
  }
  if (flock(ts->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    return e == EWOULDBLOCK || e == EAGAIN ? -EWOULDBLOCK : -e;
  }
  ts->locked = true;
  return 0;
}

void tokenstore_unlock(tokenstore_t *ts) {
  if (!ts || !ts->locked) return;
  (void)flock(ts->lock_fd, LOCK_UN);
  ts->locked = false;
}

bool tokenstore_locked(const tokenstore_t *ts) { return ts && ts->locked; }

static bool token_valid(const char *t, size_t len) {
  if (len == 0 || len > TOKENSTORE_TOKEN_MAX) return false;
  for (size_t i = 0; i < len; i++)
    if (t[i] <= ' ' || t[i] >= 0x7f) return false;
  return true;
}

/* Parses "KEY VALUE\n" where VALUE is a decimal integer; advances *p. */
static bool parse_int_line(const char **p, const char *key, int64_t min, int64_t *out) {
  size_t kl = strlen(key);
  if (strncmp(*p, key, kl) != 0 || (*p)[kl] != ' ') return false;
  const char *s = *p + kl + 1;
  if (*s < '0' || *s > '9') return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end != '\n' || v < min) return false;
  *out = v;
  *p = end + 1;
  return true;
}

int tokenstore_read(tokenstore_t *ts, tokenstore_entry_t *out) {
  char buf[FILE_MAX + 1];
  int rc = 0;
  memset(out, 0, sizeof *out);
  int fd = open(ts->token_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ELOOP ? -EBADMSG : -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
    log_warn("net: token store: %s is not a private file of ours: ignored", ts->token_path);
    rc = -EBADMSG;
    goto out;
  }
  ssize_t len = read(fd, buf, FILE_MAX + 1);
  if (len < 0) {
    rc = -errno;
    goto out;
  }
  buf[len > FILE_MAX ? FILE_MAX : len] = '\0';
  const char *p = buf;
  int64_t gen = 0, obtained = 0, expires = 0;
  char credential[API_MD5_HEX_LEN + 1] = "";
  bool ok = len <= FILE_MAX && (size_t)len == strlen(buf) &&
            strncmp(p, FILE_MAGIC "\n", sizeof FILE_MAGIC) == 0;
  if (ok) p += sizeof FILE_MAGIC;
  ok = ok && parse_int_line(&p, "generation", 1, &gen) && parse_int_line(&p, "obtained_at", 0, &obtained) &&
       parse_int_line(&p, "expires_at", 0, &expires) && expires >= obtained &&
       strncmp(p, "credential ", 11) == 0 && strspn(p + 11, "0123456789abcdef") == API_MD5_HEX_LEN &&
       p[11 + API_MD5_HEX_LEN] == '\n';
  if (ok) {
    memcpy(credential, p + 11, API_MD5_HEX_LEN);
    credential[API_MD5_HEX_LEN] = '\0';
    p += 11 + API_MD5_HEX_LEN + 1;
  }
  ok = ok && strncmp(p, "token ", 6) == 0;
  if (ok) {
    p += 6;
    size_t tl = strcspn(p, "\n");
    ok = token_valid(p, tl) && p[tl] == '\n' && p[tl + 1] == '\0';
    if (ok) {
      memcpy(out->token, p, tl);
      out->token[tl] = '\0';
    }
  }
  if (!ok) {
    log_warn("net: token store: %s is corrupt (%zd bytes): ignored, the next login replaces it",
             ts->token_path, len);
    memset(out, 0, sizeof *out);
    rc = -EBADMSG;
    goto out;
  }
  out->generation = (uint64_t)gen;
  out->obtained_at = obtained;
  out->expires_at = expires;
  out->same_credentials = strcmp(credential, ts->credential) == 0;
out:
  explicit_bzero(buf, sizeof buf);
  close(fd);
  return rc;
}

int tokenstore_write(tokenstore_t *ts, const char *token, int64_t obtained_at, int64_t expires_at,
                     uint64_t *generation) {
  if (!token || !token_valid(token, strlen(token)) || expires_at < obtained_at || obtained_at < 0)
    return -EINVAL;
  tokenstore_entry_t old;
  uint64_t gen = tokenstore_read(ts, &old) == 0 ? old.generation + 1 : 1;
  explicit_bzero(&old, sizeof old);
  char buf[FILE_MAX];
  int len = snprintf(buf, sizeof buf,
                     FILE_MAGIC "\ngeneration %" PRIu64 "\nobtained_at %" PRId64 "\nexpires_at %" PRId64
                                "\ncredential %s\ntoken %s\n",
                     gen, obtained_at, expires_at, ts->credential, token);
  int rc = 0;
  int fd = -1;
  if (len < 0 || len >= (int)sizeof buf) {
    rc = -EINVAL;
    goto out;
  }
  (void)unlink(ts->tmp_path); /* a leftover of a crash: O_EXCL below must not trip on it */
  fd = open(ts->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    rc = -errno;
    goto out;
  }
  if (fchmod(fd, 0600) != 0) { /* whatever the umask */
    rc = -errno;
    goto out_unlink;
  }
  for (int off = 0; off < len;) {
    ssize_t w = write(fd, buf + off, (size_t)(len - off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      rc = -errno;
      goto out_unlink;
    }
    off += (int)w;
  }
  /* No fsync: the store lives in a runtime directory (tmpfs); a token lost in a crash of
   * the machine costs one login, while an fsync on a disk would stall the loop. */
  if (close(fd) != 0) {
    fd = -1;
    rc = -errno;
    goto out_unlink;
  }
  fd = -1;
  if (rename(ts->tmp_path, ts->token_path) != 0) {
    rc = -errno;
    goto out_unlink;
  }
  if (generation) *generation = gen;
  goto out;
out_unlink:
  if (fd >= 0) close(fd);
  fd = -1;
  (void)unlink(ts->tmp_path);
out:
  if (fd >= 0) close(fd);
  explicit_bzero(buf, sizeof buf);
  return rc;
}

int64_t tokenstore_refresh_at(const tokenstore_entry_t *e, double refresh_fraction) {
  if (refresh_fraction <= 0.0 || refresh_fraction > 1.0) refresh_fraction = 0.75;
  return e->obtained_at + (int64_t)((double)(e->expires_at - e->obtained_at) * refresh_fraction);
}
