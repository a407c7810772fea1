/* Unit tests for net/tokenstore: directory creation (0700, ownership), hashed file names,
 * write/read round trip with generations, 0600 files, atomic replacement, corrupt and
 * foreign files ignored, and the lock (exclusive across opens, released on free). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/tokenstore.h"

#define URL "http://127.0.0.1:8080"
#define PW "9d591136280b3ec563e3062dbb6f915b"
#define PW2 "00000000000000000000000000000000"
#define CRED "d0351e0286770596d5d6a936c0eb9863" /* md5("fleetarc token store\n" PW) */

static char root[64];
static char dir[128];

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/fa-tokenstore.XXXXXX");
  if (!mkdtemp(root)) return -1;
  snprintf(dir, sizeof dir, "%s/a/store", root);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_mode & 07777;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void test_dir_prepare(void **state) {
  (void)state;
  assert_int_equal(tokenstore_dir_prepare(dir), 0); /* parent a/ created too */
  assert_int_equal(mode_of(dir), 0700);
  assert_int_equal(chmod(dir, 0755), 0);
  assert_int_equal(tokenstore_dir_prepare(dir), 0); /* readable by others: used, never chmod'ed */
  assert_int_equal(mode_of(dir), 0755);
  char why[200];
  assert_int_equal(chmod(dir, 0775), 0);
  assert_int_equal(tokenstore_dir_check(dir, why, sizeof why), -EPERM);
  assert_non_null(strstr(why, "group- or world-writable (mode 0775)"));
  assert_int_equal(mode_of(dir), 0775); /* refused, not changed */
  assert_int_equal(chmod(dir, 01777), 0); /* /tmp-like */
  assert_int_equal(tokenstore_dir_check(dir, why, sizeof why), -EPERM);
  assert_int_equal(mode_of(dir), 01777);
  assert_int_equal(chmod(dir, 0700), 0);
  char file[192];
  snprintf(file, sizeof file, "%s/plain", root);
  write_file(file, "x", 0600);
  assert_int_equal(tokenstore_dir_prepare(file), -ENOTDIR);
  assert_int_equal(tokenstore_dir_prepare(""), -EINVAL);
  if (geteuid() != 0) {
    assert_int_equal(tokenstore_dir_prepare("/proc/fleetarc-no"), -ENOENT);
  } else {
    /* root: a directory of another user is refused */
    char other[192];
    snprintf(other, sizeof other, "%s/other", root);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(chown(other, 65534, 65534), 0);
    assert_int_equal(tokenstore_dir_check(other, why, sizeof why), -EPERM);
    assert_non_null(strstr(why, "owned by uid 65534, not by this user (uid 0)"));
    assert_int_equal(mode_of(other), 0700);
  }
}

static void test_stem_is_hashed(void **state) {
  (void)state;
  char a[38], b[38], c[38];
  assert_int_equal(tokenstore_stem(URL, "demo/../x y", a), 0);
  assert_int_equal(strlen(a), 37);
  assert_memory_equal(a, "acct-", 5);
  for (int i = 5; i < 37; i++) assert_non_null(strchr("0123456789abcdef", a[i]));
  assert_null(strstr(a, "demo"));
  /* md5("http://127.0.0.1:8080\ndemo/../x y") */
  assert_int_equal(tokenstore_stem(URL, "demo/../x y", b), 0);
  assert_string_equal(a, b);
  assert_int_equal(tokenstore_stem("http://other:1", "demo/../x y", c), 0);
  assert_string_not_equal(a, c); /* the same name on another host is another account */
  assert_int_equal(tokenstore_stem(URL, "demo", c), 0);
  assert_string_not_equal(a, c);
}

static void test_write_read_roundtrip(void **state) {
  (void)state;
  assert_int_equal(tokenstore_dir_prepare(dir), 0);
  tokenstore_t *ts = tokenstore_new(dir, URL, "demo", PW);
  assert_non_null(ts);
  tokenstore_entry_t e;
  assert_int_equal(tokenstore_read(ts, &e), -ENOENT);
  assert_int_equal(tokenstore_lock_try(ts), 0);
  uint64_t gen = 0;
  assert_int_equal(tokenstore_write(ts, "tok-1", 1000, 8200, &gen), 0);
  assert_int_equal(gen, 1);
  assert_int_equal(tokenstore_read(ts, &e), 0);
  assert_string_equal(e.token, "tok-1");
  assert_int_equal(e.obtained_at, 1000);
  assert_int_equal(e.expires_at, 8200);
  assert_int_equal(e.generation, 1);
  assert_int_equal(tokenstore_refresh_at(&e, 0.75), 1000 + 5400);
  assert_int_equal(tokenstore_write(ts, "tok-2", 2000, 5600, &gen), 0);
  assert_int_equal(gen, 2);
  assert_int_equal(tokenstore_read(ts, &e), 0);
  assert_string_equal(e.token, "tok-2");
  assert_int_equal(e.generation, 2);
  assert_true(e.same_credentials);
  /* a process configured with another password sees the token is not for it */
  tokenstore_t *wrong = tokenstore_new(dir, URL, "demo", PW2);
  assert_non_null(wrong);
  assert_int_equal(tokenstore_read(wrong, &e), 0);
  assert_false(e.same_credentials);
  tokenstore_free(wrong);
  /* the file: 0600, named by the hash, nothing else left in the directory */
  char stem[38], path[256];
  assert_int_equal(tokenstore_stem(URL, "demo", stem), 0);
  snprintf(path, sizeof path, "%s/%s.token", dir, stem);
  assert_string_equal(tokenstore_token_path(ts), path);
  assert_int_equal(mode_of(path), 0600);
  snprintf(path, sizeof path, "%s/%s.lock", dir, stem);
  assert_int_equal(mode_of(path), 0600);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
  assert_int_equal(system(cmd), 0); /* no temporary file left */
  /* bad tokens are refused, the file stays */
  assert_int_equal(tokenstore_write(ts, "", 1, 2, NULL), -EINVAL);
  assert_int_equal(tokenstore_write(ts, "has space", 1, 2, NULL), -EINVAL);
  assert_int_equal(tokenstore_write(ts, "line\nbreak", 1, 2, NULL), -EINVAL);
  assert_int_equal(tokenstore_write(ts, "ok", 5, 4, NULL), -EINVAL); /* expires before obtained */
  assert_int_equal(tokenstore_read(ts, &e), 0);
  assert_string_equal(e.token, "tok-2");
  tokenstore_unlock(ts);
  tokenstore_free(ts);
  tokenstore_free(NULL);
}

/* A reader holding the old file open keeps seeing the whole old token; the path shows
 * the whole new one: the file is replaced by rename, never rewritten in place. */
static void test_write_is_atomic_rename(void **state) {
  (void)state;
  assert_int_equal(tokenstore_dir_prepare(dir), 0);
  tokenstore_t *ts = tokenstore_new(dir, URL, "atomic", PW);
  assert_non_null(ts);
  assert_int_equal(tokenstore_write(ts, "old-token", 10, 20, NULL), 0);
  int fd = open(tokenstore_token_path(ts), O_RDONLY);
  assert_true(fd >= 0);
  struct stat before, after;
  assert_int_equal(fstat(fd, &before), 0);
  assert_int_equal(tokenstore_write(ts, "new-token", 30, 40, NULL), 0);
  assert_int_equal(stat(tokenstore_token_path(ts), &after), 0);
  assert_true(before.st_ino != after.st_ino);
  char buf[256] = {0};
  assert_true(read(fd, buf, sizeof buf - 1) > 0);
  close(fd);
  assert_non_null(strstr(buf, "token old-token\n"));
  tokenstore_entry_t e;
  assert_int_equal(tokenstore_read(ts, &e), 0);
  assert_string_equal(e.token, "new-token");
  tokenstore_free(ts);
}

static void test_corrupt_and_foreign_files_ignored(void **state) {
  (void)state;
  assert_int_equal(tokenstore_dir_prepare(dir), 0);
  tokenstore_t *ts = tokenstore_new(dir, URL, "corrupt", PW);
  assert_non_null(ts);
  const char *path = tokenstore_token_path(ts);
  static const char *const bad[] = {
    "",
    "garbage",
    "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\n", /* cut short */
    "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken abc", /* no newline */
    "fleetarc-token 1\ngeneration x\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken abc\n",
    "fleetarc-token 1\ngeneration 1\nobtained_at 30\nexpires_at 20\ncredential " CRED "\ntoken abc\n",
    "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken a c\n",
    "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken abc\nextra\n",
    "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\ncredential xyz\ntoken abc\n",
    "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\ntoken abc\n", /* no credential */
    "fleetarc-token 2\ngeneration 1\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken abc\n",
  };
  tokenstore_entry_t e;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file(path, bad[i], 0600);
    memset(&e, 'x', sizeof e);
    assert_int_equal(tokenstore_read(ts, &e), -EBADMSG);
    assert_string_equal(e.token, ""); /* nothing half-read is handed out */
  }
  /* the warning names the file, never what it holds */
  write_file(path, "fleetarc-token 1\ngeneration x\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken s3cr3t\n", 0600);
  char logname[192];
  snprintf(logname, sizeof logname, "%s/stderr", root);
  fflush(stderr);
  int saved = dup(2), logfd = open(logname, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(saved >= 0 && logfd >= 0);
  assert_int_equal(dup2(logfd, 2), 2);
  assert_int_equal(tokenstore_read(ts, &e), -EBADMSG);
  fflush(stderr);
  assert_int_equal(dup2(saved, 2), 2);
  close(saved);
  char logged[1024] = {0};
  assert_true(pread(logfd, logged, sizeof logged - 1, 0) > 0);
  close(logfd);
  assert_non_null(strstr(logged, "warn"));
  assert_non_null(strstr(logged, path));
  assert_non_null(strstr(logged, "corrupt"));
  assert_null(strstr(logged, "s3cr3t"));
  assert_int_equal(unlink(logname), 0);
  /* the good form is read; the same with group access is not ours to trust */
  write_file(path, "fleetarc-token 1\ngeneration 7\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken abc\n", 0600);
  assert_int_equal(tokenstore_read(ts, &e), 0);
  assert_string_equal(e.token, "abc");
  assert_int_equal(e.generation, 7);
  assert_true(e.same_credentials); /* CRED is what the store computes for PW */
  assert_int_equal(chmod(path, 0640), 0);
  assert_int_equal(tokenstore_read(ts, &e), -EBADMSG);
  /* a corrupt file is replaced by the next write, generation starting over */
  write_file(path, "garbage", 0600);
  uint64_t gen = 0;
  assert_int_equal(tokenstore_write(ts, "fresh", 1, 2, &gen), 0);
  assert_int_equal(gen, 1);
  assert_int_equal(tokenstore_read(ts, &e), 0);
  assert_string_equal(e.token, "fresh");
  /* a symbolic link in its place is refused, not followed */
  char target[192];
  snprintf(target, sizeof target, "%s/elsewhere", root);
  write_file(target, "fleetarc-token 1\ngeneration 1\nobtained_at 10\nexpires_at 20\ncredential " CRED "\ntoken evil\n", 0600);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(symlink(target, path), 0);
  assert_int_equal(tokenstore_read(ts, &e), -EBADMSG);
  tokenstore_free(ts);
}

/* flock is per open file description: two stores of one account exclude each other like
 * two processes would; unlock and free (a process's death closes the file) release it. */
static void test_lock_exclusive(void **state) {
  (void)state;
  assert_int_equal(tokenstore_dir_prepare(dir), 0);
  tokenstore_t *a = tokenstore_new(dir, URL, "lock", PW);
  tokenstore_t *b = tokenstore_new(dir, URL, "lock", PW);
  tokenstore_t *other = tokenstore_new(dir, URL, "another account", PW);
  assert_non_null(a);
  assert_non_null(b);
  assert_non_null(other);
  assert_false(tokenstore_locked(a));
  assert_int_equal(tokenstore_lock_try(a), 0);
  assert_true(tokenstore_locked(a));
  assert_int_equal(tokenstore_lock_try(a), 0); /* held already */
  assert_int_equal(tokenstore_lock_try(b), -EWOULDBLOCK);
  assert_int_equal(tokenstore_lock_try(other), 0); /* accounts do not wait on each other */
  tokenstore_unlock(a);
  assert_false(tokenstore_locked(a));
  assert_int_equal(tokenstore_lock_try(b), 0);
  assert_int_equal(tokenstore_lock_try(a), -EWOULDBLOCK);
  tokenstore_free(b); /* closed while held */
  assert_int_equal(tokenstore_lock_try(a), 0);
  tokenstore_free(a);
  tokenstore_free(other);
  /* a store in a directory that is gone: the lock file cannot be opened */
  tokenstore_t *gone = tokenstore_new("/nonexistent/fleetarc", URL, "demo", PW);
  assert_non_null(gone);
  assert_int_equal(tokenstore_lock_try(gone), -ENOENT);
  tokenstore_free(gone);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_dir_prepare, setup, teardown),
    cmocka_unit_test(test_stem_is_hashed),
    cmocka_unit_test_setup_teardown(test_write_read_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_write_is_atomic_rename, setup, teardown),
    cmocka_unit_test_setup_teardown(test_corrupt_and_foreign_files_ignored, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lock_exclusive, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
