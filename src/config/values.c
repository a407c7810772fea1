/* The configuration's checks and secrets that need no YAML: URL, address and zone
 * syntax, secret files and variables, the exposure warnings, and the accessors of a
 * loaded config_t. Invariant: a secret never reaches a message, and leaves memory wiped. */
#include "config/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/grow.h"
#include "util/timeparse.h"

/* ---- values ---- */

/* s made safe to show in a message: control bytes escaped, cut to about 48 chars. */
const char *values_shown(const char *s, size_t len, char *out, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < len && o + 8 < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i >= 48) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
      o += (size_t)snprintf(out + o, n - o, "\\x%02x", c);
    else
      out[o++] = (char)c;
  }
  out[o] = '\0';
  return out;
}

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 40 || lb > 40) return 99;
  size_t row[41];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (row[j] + 1 < best) best = row[j] + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* "expected one of: a, b, c; did you mean 'b'?" into out. */
void values_expected_list(char *out, size_t n, const char *got, const char *const *names, size_t count) {
  size_t o = (size_t)snprintf(out, n, "expected one of: ");
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t i = 0; i < count && o < n; i++) {
    o += (size_t)snprintf(out + o, n - o, "%s%s", i ? ", " : "", names[i]);
    size_t d = edit_distance(got, names[i]);
    if (d < best_d && d * 2 < strlen(names[i])) {
      best = names[i];
      best_d = d;
    }
  }
  if (best && o < n) snprintf(out + o, n - o, "; did you mean '%s'?", best);
}

/* Converts s, the expanded text of a scalar key (raw: as written, to quote), into the
 * field of r in base. 0, or -1 with the reason in why. */
int values_convert(const row_t *r, char *s, const char *raw, void *base, char *why, size_t n) {
  switch (r->type) {
  case T_DURATION: {
    int64_t ms;
    char err[TIMEPARSE_ERR_MAX], lo[32], hi[32];
    if (timeparse_duration(s, &ms, err, sizeof err) != 0) {
      snprintf(why, n, "bad duration '%s': %s", raw, err);
      return -1;
    }
    if (ms < r->min || ms > r->max) {
      snprintf(why, n, "duration '%s' out of range (%s to %s)", raw,
               timeparse_format_duration(r->min, lo, sizeof lo), timeparse_format_duration(r->max, hi, sizeof hi));
      return -1;
    }
    *ROW_FIELD(base, r, int64_t) = ms;
    return 0;
  }
  case T_INT:
  case T_BYTES: {
    int64_t v, scale = 1;
    size_t len = strlen(s);
    if (r->type == T_BYTES && len > 3) {
      const char *suffix = s + len - 3;
      if (!strcmp(suffix, "KiB")) scale = 1024;
      else if (!strcmp(suffix, "MiB")) scale = 1024 * 1024;
      else if (!strcmp(suffix, "GiB")) scale = 1024 * 1024 * 1024;
      if (scale > 1) s[len - 3] = '\0';
    }
    if (!values_parse_int64(s, &v)) {
      snprintf(why, n, "'%s' is not an integer%s", raw,
               r->type == T_BYTES ? " (a KiB, MiB or GiB suffix is allowed)" : "");
      return -1;
    }
    if (v < r->min / scale || v > r->max / scale || v * scale < r->min || v * scale > r->max) {
      snprintf(why, n, "%s out of range (%lld to %lld)", raw, (long long)r->min, (long long)r->max);
      return -1;
    }
    if (r->type == T_INT) *ROW_FIELD(base, r, int) = (int)v;
    else *ROW_FIELD(base, r, int64_t) = v * scale;
    return 0;
  }
  case T_BOOL:
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
      *ROW_FIELD(base, r, bool) = true;
    } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
      *ROW_FIELD(base, r, bool) = false;
    } else {
      snprintf(why, n, "expected true or false, got '%s'", raw);
      return -1;
    }
    return 0;
  case T_ENUM: {
    size_t count = 0;
    for (; r->names[count]; count++)
      if (!strcmp(s, r->names[count])) {
        *ROW_FIELD(base, r, int) = (int)count;
        return 0;
      }
    char expected[256];
    values_expected_list(expected, sizeof expected, s, r->names, count);
    snprintf(why, n, "unknown %s '%s' (%s)", r->expected + 2, raw, expected); /* "a level" */
    return -1;
  }
  case T_STRING: {
    char *copy = strdup(s);
    if (!copy) {
      snprintf(why, n, "out of memory");
      return -1;
    }
    values_secret_free(*ROW_FIELD(base, r, char *));
    *ROW_FIELD(base, r, char *) = copy;
    return 0;
  }
  default:
    snprintf(why, n, "not a scalar key");
    return -1;
  }
}

/* Every endpoint's spacing from the `default` key and the built-in values. */
void values_rates_resolve(config_t *cfg) {
  char err[TIMEPARSE_ERR_MAX];
  for (int i = 0; i < API_EP_COUNT; i++) cfg->api.rate_limit_ms[i] = cfg->api.rate_limit_default_ms;
  for (size_t i = 0; i < config_n_builtin_rates; i++)
    if (timeparse_duration(config_builtin_rates[i].def, &cfg->api.rate_limit_ms[config_builtin_rates[i].ep],
                           err, sizeof err) != 0)
      abort(); /* a broken invariant: the table's own text does not parse */
}

/* ---- defaults ---- */

/* The defaults of the scalar rows into base. 0, or -ENOMEM. */
int values_defaults_apply(const row_t *rows, size_t n, void *base) {
  for (size_t i = 0; i < n; i++) {
    const row_t *r = &rows[i];
    if (!r->def || r->type > T_ENUM) continue;
    char text[256], why[256];
    snprintf(text, sizeof text, "%s", r->def);
    if (values_convert(r, text, r->def, base, why, sizeof why) != 0) {
      if (r->type == T_STRING) return -ENOMEM;
      abort(); /* a broken invariant: the table's own default does not parse */
    }
  }
  return 0;
}

int values_defaults(config_t *cfg) {
  if (values_defaults_apply(config_rows, config_n_rows, cfg) != 0) return -ENOMEM;
  char err[TIMEPARSE_ERR_MAX];
  for (size_t i = 0; i < config_n_rows; i++)
    if (config_rows[i].type == T_RATES &&
        timeparse_duration(config_rows[i].def, &cfg->api.rate_limit_default_ms, err, sizeof err) != 0)
      abort();
  values_rates_resolve(cfg);
  cfg->archive.streams = STREAM_ALL_BITS;
  char dir[512];
  if (config_token_dir_default(dir, sizeof dir) == 0) cfg->api.token_dir = strdup(dir);
  else cfg->api.token_dir = strdup(""); /* no usable default: in-process logins only */
  return cfg->api.token_dir ? 0 : -ENOMEM;
}


/* ---- checks ---- */

const char *values_url_problem(const char *s, size_t *end) {
  size_t scheme_len = 0;
  if (!strncasecmp(s, "https://", 8)) scheme_len = 8;
  else if (!strncasecmp(s, "http://", 7)) scheme_len = 7;
  else return "the scheme must be http:// or https://";
  const char *p = s + scheme_len;
  if (strchr(p, '@')) return "a user or password does not belong in the URL";
  const char *host = p;
  if (*p == '[') {
    while (*p && *p != ']') p++;
    if (*p != ']') return "an IPv6 host needs its closing ]";
    p++;
  } else {
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '.' || *p == '-' || *p == '_')
      p++;
  }
  if (p == host) return "the host is missing";
  if (*p == ':') {
    p++;
    long port = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9' && port <= 65535) port = port * 10 + (*p++ - '0');
    if (p == digits || port < 1 || port > 65535) return "the port must be 1 to 65535";
  }
  *end = (size_t)(p - s);
  if (*p == '/' && p[1] == '\0') p++; /* one trailing slash is harmless */
  if (*p == '/') return "give no path: /api/... is appended to scheme://host[:port]";
  if (*p) return "expected scheme://host[:port] and nothing after it";
  return NULL;
}

/* Names are refused so that the endpoint never depends on a resolver at startup. */
bool values_listen_valid(const char *s) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5) return false;
  for (const char *p = colon + 1; *p; p++)
    if (*p < '0' || *p > '9') return false;
  if (atoi(colon + 1) > 65535) return false;
  char host[64];
  size_t hlen = (size_t)(colon - s);
  unsigned char addr[16];
  if (s[0] == '[') {
    if (hlen < 3 || s[hlen - 1] != ']' || hlen - 2 >= sizeof host) return false;
    memcpy(host, s + 1, hlen - 2);
    host[hlen - 2] = '\0';
    return inet_pton(AF_INET6, host, addr) == 1;
  }
  if (hlen >= sizeof host) return false;
  memcpy(host, s, hlen);
  host[hlen] = '\0';
  return inet_pton(AF_INET, host, addr) == 1;
}

/* Letters, digits, '_', '+', '-', '/' parts: nothing that reaches outside the zone tree. */
bool values_timezone_valid(const char *s) {
  if (!*s || *s == '/' || strstr(s, "..") || strstr(s, "//")) return false;
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") == strlen(s);
}

int values_secret_file_read(const char *path, char *buf, size_t cap, size_t *len) {
  int rc = 0;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = -errno;
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = -EINVAL;
    goto out;
  }
  for (;;) {
    if (*len == cap - 1) {
      char extra;
      ssize_t r = read(fd, &extra, 1);
      rc = r > 0 ? -EFBIG : 0;
      break;
    }
    ssize_t r = read(fd, buf + *len, cap - 1 - *len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = -errno;
      break;
    }
    if (r == 0) break;
    *len += (size_t)r;
  }
  while (*len && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r')) (*len)--;
  buf[*len] = '\0';
out:
  close(fd);
  return rc;
}

void values_base64(const unsigned char *in, size_t n, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tab[v & 63] : '=';
  }
  out[o] = '\0';
}

/* Environment variables that held a secret. Once read they leave the environment:
 * /proc/PID/environ shows it to whoever may inspect the process, and every child would
 * inherit it. The value is wiped where the environment held it (unsetenv alone leaves
 * the initial strings readable there) and kept here, in the heap, for a reload (SIGHUP)
 * that expands the same ${NAME} again. Process lifetime: never freed. */
static struct env_secret {
  char *name, *value;
} *env_secrets;
static size_t n_env_secrets, cap_env_secrets;

static const char *env_taken(const char *name) {
  for (size_t i = 0; i < n_env_secrets; i++)
    if (strcmp(env_secrets[i].name, name) == 0) return env_secrets[i].value;
  return NULL;
}

const char *values_env_secret(const char *name) {
  const char *taken = env_taken(name);
  if (taken) return taken;
  char *v = getenv(name);
  if (!v || GROW(env_secrets, cap_env_secrets, n_env_secrets + 1) != 0) return NULL;
  char *n = strdup(name), *copy = strdup(v);
  if (!n || !copy) {
    free(n);
    free(copy);
    return NULL;
  }
  env_secrets[n_env_secrets++] = (struct env_secret){n, copy};
  explicit_bzero(v, strlen(v));
  unsetenv(name);
  return copy;
}

const char *values_env(const char *name) {
  const char *v = getenv(name);
  return v ? v : env_taken(name);
}

void values_secret_free(char *s) {
  if (!s) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

bool values_parse_int64(const char *s, int64_t *out) {
  const char *p = s;
  bool neg = *p == '-';
  if (neg) p++;
  if (!*p) return false;
  int64_t n = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    if (n > (INT64_MAX - (*p - '0')) / 10) return false;
    n = n * 10 + (*p - '0');
  }
  *out = neg ? -n : n;
  return true;
}

int config_token_dir_default(char *out, size_t n) {
  int len;
  const char *rd = getenv("RUNTIME_DIRECTORY");
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (rd && rd[0] == '/') {
    /* systemd lists several RuntimeDirectory= entries separated by ':' */
    len = snprintf(out, n, "%.*s", (int)strcspn(rd, ":"), rd);
  } else if (access("/run/fleetarc", W_OK | X_OK) == 0) {
    len = snprintf(out, n, "/run/fleetarc");
  } else if (xdg && xdg[0] == '/') {
    len = snprintf(out, n, "%s/fleetarc", xdg);
  } else {
    len = snprintf(out, n, "/tmp/fleetarc-%lu", (unsigned long)geteuid());
  }
  return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

/* host (n bytes) is loopback: localhost, 127.0.0.0/8 or ::1. */
static bool host_is_loopback(const char *host, size_t n) {
  char h[64];
  if (n >= sizeof h) return false;
  memcpy(h, host, n);
  h[n] = '\0';
  if (strcasecmp(h, "localhost") == 0) return true;
  unsigned char a[16];
  if (inet_pton(AF_INET, h, a) == 1) return a[0] == 127;
  if (inet_pton(AF_INET6, h, a) == 1) {
    static const unsigned char one[16] = {[15] = 1};
    return memcmp(a, one, 16) == 0;
  }
  return false;
}

/* The host of "HOST:PORT" or "[V6]:PORT" (or of a URL's authority up to / ? #). */
static bool authority_is_loopback(const char *s) {
  size_t len = strcspn(s, "/?#");
  const char *at = memchr(s, '@', len);
  if (at) {
    len -= (size_t)(at + 1 - s);
    s = at + 1;
  }
  if (s[0] == '[') {
    const char *close = memchr(s, ']', len);
    return close && host_is_loopback(s + 1, (size_t)(close - s - 1));
  }
  const char *colon = memchr(s, ':', len);
  return host_is_loopback(s, colon ? (size_t)(colon - s) : len);
}

int config_warnings(const config_t *cfg, buf_t *out) {
  int n = 0;
  const char *url = cfg->api.base_url;
  if (url && strncasecmp(url, "http://", 7) == 0 && !authority_is_loopback(url + 7)) {
    if (buf_printf(out, "api.base_url %s is plain http:// to a host other than loopback: the "
                        "access token and the login signature travel in clear (use https://)\n", url) == 0)
      n++;
  }
  if (cfg->metrics.listen && !authority_is_loopback(cfg->metrics.listen) && !cfg->metrics.auth_header) {
    if (buf_printf(out, "metrics.listen %s is reachable beyond loopback without metrics.auth: "
                        "anyone who can connect reads /metrics (set metrics.auth, or listen on "
                        "127.0.0.1)\n", cfg->metrics.listen) == 0)
      n++;
  }
  return n;
}

int config_credentials_check(const config_t *cfg, const char *account, buf_t *errors) {
  int rc = 0;
  for (size_t i = 0; cfg && i < cfg->n_accounts; i++) {
    const config_account_t *a = &cfg->accounts[i];
    if (account && strcmp(account, a->account) != 0) continue;
    if (!a->credential_error[0]) continue;
    rc = -EINVAL;
    if (errors && buf_printf(errors, "%s\n", a->credential_error)) return -ENOMEM;
  }
  return rc;
}

/* Every string key through the table: none is forgotten when a key is added. */
void config_free(config_t *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    free(cfg->accounts[i].account);
    explicit_bzero(cfg->accounts[i].password_md5, sizeof cfg->accounts[i].password_md5);
  }
  free(cfg->accounts);
  for (size_t i = 0; i < config_n_rows; i++) {
    const row_t *r = &config_rows[i];
    if (r->type == T_STRING) values_secret_free(*ROW_FIELD(cfg, r, char *));
  }
  free(cfg->source);
  free(cfg);
}

int64_t config_rate_limit_ms(const config_t *cfg, api_endpoint_t ep) {
  if ((int)ep < 0 || ep >= API_EP_COUNT) return cfg->api.rate_limit_default_ms;
  return cfg->api.rate_limit_ms[ep];
}

const config_account_t *config_account_find(const config_t *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_accounts; i++)
    if (!strcmp(cfg->accounts[i].account, name)) return &cfg->accounts[i];
  return NULL;
}
