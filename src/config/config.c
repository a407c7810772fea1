/* The YAML loader: libyaml builds a document tree, a hand-written walk over the known
 * keys fills config_t. Invariant: every problem is reported once with FILE:LINE:COLUMN
 * and the key's dotted path, and no secret (password, its md5) reaches a message. */
#include "config/config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "util/timeparse.h"

#define MAX_ERRORS 20 /* errors shown, the first ones by position */
#define MAX_KEPT 200  /* errors kept to pick those from */
#define MAX_CONFIG_BYTES (1024 * 1024)
#define MAX_SECRET_BYTES 4096
#define PATH_LEN 192 /* a key's dotted path; longer ones are cut (messages only) */

#define SEC_MS ((int64_t)1000)
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

/* An error waiting to be sorted into file order. */
typedef struct found_error {
  size_t index; /* byte offset in the file; 0 when it has no position */
  int seq;      /* order of discovery, for errors at one position */
  char *text;
} found_error_t;

typedef struct loader {
  yaml_document_t doc;
  const char *name;             /* the file, for messages */
  char *base_dir;               /* relative paths resolve here; NULL: the working directory */
  buf_t *errors;                /* borrowed; NULL: count only */
  int n_errors;                 /* all errors found */
  found_error_t kept[MAX_KEPT]; /* the first MAX_KEPT of them, sorted at the end */
  int n_kept;
  bool oom;
  config_t *cfg; /* being filled; handed to the caller only when n_errors is 0 */
} loader_t;

/* Built-in spacings of the endpoints (NOTES.md: what real hosts enforce). */
static const struct {
  api_endpoint_t ep;
  int64_t ms;
} builtin_rate_limits[] = {
  {API_EP_AUTHORIZATION, 12 * SEC_MS}, {API_EP_TRACK, 10 * SEC_MS},
  {API_EP_PLAYBACK, 12 * SEC_MS},      {API_EP_ALARM_LIST, 12 * SEC_MS},
  {API_EP_DEVICE_LIST, 6 * SEC_MS},    {API_EP_USER_LIST, 6 * SEC_MS},
  {API_EP_DEVICE_DETAIL, 6 * SEC_MS},  {API_EP_DEVICE_MILEAGE, 10 * SEC_MS},
};

static const char *const stream_names[] = {"playback", "alarms", "mileage"};

/* ---- messages ---- */

/* s made safe to show in a message: control bytes escaped, cut to about 48 chars. */
static const char *shown(const char *s, size_t len, char *out, size_t n) {
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

static void report(loader_t *ld, const yaml_node_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(loader_t *ld, const yaml_node_t *at, const char *path, const char *fmt, ...) {
  ld->n_errors++;
  if (!ld->errors || ld->n_kept == MAX_KEPT) return;
  char msg[1024];
  int n;
  if (at)
    n = snprintf(msg, sizeof msg, "%s:%zu:%zu: ", ld->name, at->start_mark.line + 1, at->start_mark.column + 1);
  else
    n = snprintf(msg, sizeof msg, "%s: ", ld->name);
  if (path && n >= 0 && (size_t)n < sizeof msg) n += snprintf(msg + n, sizeof msg - (size_t)n, "key '%s': ", path);
  if (n >= 0 && (size_t)n < sizeof msg) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
  }
  found_error_t *e = &ld->kept[ld->n_kept];
  e->index = at ? at->start_mark.index : 0;
  e->seq = ld->n_kept;
  if (!(e->text = strdup(msg))) ld->oom = true;
  else ld->n_kept++;
}

static int error_cmp(const void *a, const void *b) {
  const found_error_t *x = a, *y = b;
  if (x->index != y->index) return x->index < y->index ? -1 : 1;
  return x->seq - y->seq;
}

/* Hands the kept errors to the caller in file order, at most MAX_ERRORS of them. */
static void errors_flush(loader_t *ld) {
  qsort(ld->kept, (size_t)ld->n_kept, sizeof ld->kept[0], error_cmp);
  for (int i = 0; i < ld->n_kept; i++) {
    if (i < MAX_ERRORS && (buf_puts(ld->errors, ld->kept[i].text) || buf_putc(ld->errors, '\n')))
      ld->oom = true;
    free(ld->kept[i].text);
  }
  if (ld->n_errors > MAX_ERRORS && ld->errors &&
      buf_printf(ld->errors, "%s: %d more errors not shown\n", ld->name, ld->n_errors - MAX_ERRORS))
    ld->oom = true;
  ld->n_kept = 0;
}

/* ---- the document ---- */

static yaml_node_t *node_get(loader_t *ld, int id) { return yaml_document_get_node(&ld->doc, id); }

static const char *kind_name(const yaml_node_t *n) {
  switch (n->type) {
  case YAML_SCALAR_NODE: return "a scalar";
  case YAML_SEQUENCE_NODE: return "a list";
  case YAML_MAPPING_NODE: return "a mapping";
  default: return "nothing";
  }
}

/* An unquoted empty value, ~ or null: "use the default". */
static bool is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const char *v = (const char *)n->data.scalar.value;
  size_t len = n->data.scalar.length;
  return len == 0 || (len == 1 && v[0] == '~') ||
         (len == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

static void path_join(char *out, const char *parent, const char *key) {
  char safe[80];
  shown(key, strlen(key), safe, sizeof safe);
  /* Key paths are cut to PATH_LEN on purpose: they only name a place in messages. */
  int w;
  if (parent && *parent)
    w = snprintf(out, PATH_LEN, "%s.%s", parent, safe);
  else
    w = snprintf(out, PATH_LEN, "%s", safe);
  if (w < 0) out[0] = '\0';
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
static void expected_list(char *out, size_t n, const char *got, const char *const *names, size_t count) {
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

/* A mapping with known keys: type-checked, unknown and duplicate keys reported, the value
 * node of each known key in values[i] (NULL when absent). false when map is not a mapping
 * (a null map is an empty one: all defaults). */
static bool section_open(loader_t *ld, const yaml_node_t *map, const char *path,
                         const char *const *names, size_t count, const yaml_node_t **values,
                         const yaml_node_t **keys) {
  for (size_t i = 0; i < count; i++) values[i] = keys[i] = NULL;
  if (!map || is_null(map)) return true;
  if (map->type != YAML_MAPPING_NODE) {
    report(ld, map, path, "expected a mapping, got %s", kind_name(map));
    return false;
  }
  for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
    const yaml_node_t *k = node_get(ld, pair->key);
    const yaml_node_t *v = node_get(ld, pair->value);
    if (!k || !v) continue;
    if (k->type != YAML_SCALAR_NODE) {
      report(ld, k, path, "a key must be a plain name, got %s", kind_name(k));
      continue;
    }
    const char *name = (const char *)k->data.scalar.value;
    char kpath[PATH_LEN];
    path_join(kpath, path, name);
    size_t i = 0;
    while (i < count && (strlen(names[i]) != k->data.scalar.length || strcmp(names[i], name) != 0)) i++;
    if (i == count) {
      char expected[768];
      expected_list(expected, sizeof expected, name, names, count);
      report(ld, k, kpath, "unknown key (%s)", expected);
      continue;
    }
    if (keys[i]) {
      report(ld, k, kpath, "duplicate key (first at line %zu, column %zu)", keys[i]->start_mark.line + 1,
             keys[i]->start_mark.column + 1);
      continue;
    }
    keys[i] = k;
    values[i] = v;
  }
  return true;
}

/* ${NAME} expansion; $${ stands for a literal ${. Returns a malloc'd string or NULL after
 * reporting. The value itself is never quoted in a message (it may be a secret). */
static char *expand_env(loader_t *ld, const yaml_node_t *v, const char *path, const char *in, size_t len) {
  buf_t out = BUF_INIT;
  size_t i = 0;
  while (i < len) {
    if (in[i] == '$' && i + 2 < len && in[i + 1] == '$' && in[i + 2] == '{') {
      if (buf_puts(&out, "${")) goto oom;
      i += 3;
    } else if (in[i] == '$' && i + 1 < len && in[i + 1] == '{') {
      size_t start = i + 2, end = start;
      while (end < len && in[end] != '}') end++;
      if (end == len) {
        report(ld, v, path, "unterminated ${ (write $${ for a literal ${)");
        goto fail;
      }
      char name[128];
      size_t nlen = end - start;
      bool ok = nlen > 0 && nlen < sizeof name && !(in[start] >= '0' && in[start] <= '9');
      for (size_t j = start; ok && j < end; j++) {
        char c = in[j];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      }
      if (!ok) {
        char safe[80];
        report(ld, v, path, "bad variable name '${%s}' (letters, digits and _)",
               shown(in + start, nlen, safe, sizeof safe));
        goto fail;
      }
      memcpy(name, in + start, nlen);
      name[nlen] = '\0';
      const char *value = getenv(name);
      if (!value) {
        report(ld, v, path, "environment variable %s is not set", name);
        goto fail;
      }
      if (buf_puts(&out, value)) goto oom;
      i = end + 1;
    } else {
      if (buf_putc(&out, in[i])) goto oom;
      i++;
    }
  }
  char *s = buf_steal(&out);
  if (!s) ld->oom = true;
  return s;
oom:
  ld->oom = true;
fail:
  if (out.data) explicit_bzero(out.data, out.cap);
  buf_free(&out);
  return NULL;
}

/* Frees a string that may have held a secret. */
static void secret_free(char *s) {
  if (!s) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

/* The scalar at v, expanded. Returns 1 with *out (malloc'd), 0 when absent or null (keep
 * the default), -1 after reporting. expected says what belongs there, for the message. */
static int scalar_get(loader_t *ld, const yaml_node_t *v, const char *path, const char *expected, char **out) {
  *out = NULL;
  if (!v || is_null(v)) return 0;
  if (v->type != YAML_SCALAR_NODE) {
    report(ld, v, path, "expected %s, got %s", expected, kind_name(v));
    return -1;
  }
  const char *raw = (const char *)v->data.scalar.value;
  size_t len = v->data.scalar.length;
  if (memchr(raw, '\0', len)) {
    report(ld, v, path, "a value must not hold a NUL character");
    return -1;
  }
  *out = expand_env(ld, v, path, raw, len);
  return *out ? 1 : -1;
}

/* The value as written in the file, quoted for a message (never for secret keys). */
static const char *raw_shown(const yaml_node_t *v, char *out, size_t n) {
  return shown((const char *)v->data.scalar.value, v->data.scalar.length, out, n);
}

static void get_string(loader_t *ld, const yaml_node_t *v, const char *path, char **out) {
  char *s;
  if (scalar_get(ld, v, path, "a string", &s) <= 0) return;
  free(*out);
  *out = s;
}

static void get_duration(loader_t *ld, const yaml_node_t *v, const char *path, int64_t *out,
                         int64_t min, int64_t max) {
  char *s;
  if (scalar_get(ld, v, path, "a duration (e.g. 30s)", &s) <= 0) return;
  int64_t ms;
  char err[TIMEPARSE_ERR_MAX], raw[80];
  if (timeparse_duration(s, &ms, err, sizeof err) != 0) {
    report(ld, v, path, "bad duration '%s': %s", raw_shown(v, raw, sizeof raw), err);
  } else if (ms < min || ms > max) {
    char lo[32], hi[32];
    report(ld, v, path, "duration '%s' out of range (%s to %s)", raw_shown(v, raw, sizeof raw),
           timeparse_format_duration(min, lo, sizeof lo), timeparse_format_duration(max, hi, sizeof hi));
  } else {
    *out = ms;
  }
  free(s);
}

static bool parse_int64(const char *s, int64_t *out) {
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

/* An integer; with units true, a KiB, MiB or GiB suffix multiplies it. */
static void get_integer(loader_t *ld, const yaml_node_t *v, const char *path, int64_t *out,
                        int64_t min, int64_t max, bool units) {
  char *s;
  if (scalar_get(ld, v, path, "an integer", &s) <= 0) return;
  char raw[80];
  int64_t n, scale = 1;
  size_t len = strlen(s);
  if (units && len > 3) {
    const char *suffix = s + len - 3;
    if (!strcmp(suffix, "KiB")) scale = 1024;
    else if (!strcmp(suffix, "MiB")) scale = 1024 * 1024;
    else if (!strcmp(suffix, "GiB")) scale = 1024 * 1024 * 1024;
    if (scale > 1) s[len - 3] = '\0';
  }
  if (!parse_int64(s, &n)) {
    report(ld, v, path, "'%s' is not an integer%s", raw_shown(v, raw, sizeof raw),
           units ? " (a KiB, MiB or GiB suffix is allowed)" : "");
  } else if (n < min / scale || n > max / scale || n * scale < min || n * scale > max) {
    report(ld, v, path, "%s out of range (%lld to %lld)", raw_shown(v, raw, sizeof raw),
           (long long)min, (long long)max);
  } else {
    *out = n * scale;
  }
  free(s);
}

static void get_int(loader_t *ld, const yaml_node_t *v, const char *path, int *out, int min, int max) {
  int64_t n = *out;
  get_integer(ld, v, path, &n, min, max, false);
  *out = (int)n;
}

static void get_bool(loader_t *ld, const yaml_node_t *v, const char *path, bool *out) {
  char *s;
  if (scalar_get(ld, v, path, "true or false", &s) <= 0) return;
  if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
    *out = true;
  } else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
    *out = false;
  } else {
    char raw[80];
    report(ld, v, path, "expected true or false, got '%s'", raw_shown(v, raw, sizeof raw));
  }
  free(s);
}

/* A path relative to the configuration's directory; malloc'd. */
static char *path_resolve(loader_t *ld, const char *p) {
  char *out = NULL;
  if (p[0] == '/' || !ld->base_dir) out = strdup(p);
  else if (asprintf(&out, "%s/%s", ld->base_dir, p) < 0) out = NULL;
  if (!out) ld->oom = true;
  return out;
}

/* ---- sections ---- */

static void load_base_url(loader_t *ld, const yaml_node_t *v, const char *path) {
  char *s;
  int rc = scalar_get(ld, v, path, "a URL (https://host[:port])", &s);
  if (rc == 0) report(ld, v, path, "missing value (expected https://host[:port])");
  if (rc <= 0) return;
  const char *why = NULL;
  size_t scheme_len = 0;
  if (!strncasecmp(s, "https://", 8)) scheme_len = 8;
  else if (!strncasecmp(s, "http://", 7)) scheme_len = 7;
  else why = "the scheme must be http:// or https://";
  const char *p = s + scheme_len;
  if (!why && strchr(p, '@')) why = "a user or password does not belong in the URL";
  if (!why) {
    const char *host = p;
    if (*p == '[') {
      while (*p && *p != ']') p++;
      if (*p == ']') p++;
      else why = "an IPv6 host needs its closing ]";
    } else {
      while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '-' || *p == '_')
        p++;
    }
    if (!why && p == host) why = "the host is missing";
  }
  if (!why && *p == ':') {
    p++;
    long port = 0;
    const char *digits = p;
    while (*p >= '0' && *p <= '9' && port <= 65535) port = port * 10 + (*p++ - '0');
    if (p == digits || port < 1 || port > 65535) why = "the port must be 1 to 65535";
  }
  if (!why && *p == '/' && p[1] == '\0') p++; /* one trailing slash is harmless */
  if (!why && *p) {
    if (*p == '/') why = "give no path: /api/... is appended to scheme://host[:port]";
    else why = "expected scheme://host[:port] and nothing after it";
  }
  if (why) {
    /* the value is not quoted: a mistyped URL may hold credentials */
    report(ld, v, path, "bad URL: %s", why);
    free(s);
    return;
  }
  for (size_t i = 0; i < scheme_len; i++) s[i] = (char)(s[i] | 0x20); /* lower-case scheme */
  size_t len = (size_t)(p - s);
  if (len && s[len - 1] == '/') len--;
  s[len] = '\0';
  free(ld->cfg->api.base_url);
  ld->cfg->api.base_url = s;
}

static void load_rate_limits(loader_t *ld, const yaml_node_t *map, const char *path) {
  const char *names[API_EP_COUNT + 1];
  const yaml_node_t *values[API_EP_COUNT + 1], *keys[API_EP_COUNT + 1];
  names[0] = "default";
  for (int i = 0; i < API_EP_COUNT; i++) names[i + 1] = api_endpoint_key((api_endpoint_t)i);
  if (!section_open(ld, map, path, names, API_EP_COUNT + 1, values, keys)) return;
  char kpath[PATH_LEN];
  config_t *cfg = ld->cfg;
  path_join(kpath, path, "default");
  get_duration(ld, values[0], kpath, &cfg->api.rate_limit_default_ms, 0, HOUR_MS);
  /* resolve: configured key, else built-in, else default */
  for (int i = 0; i < API_EP_COUNT; i++) cfg->api.rate_limit_ms[i] = cfg->api.rate_limit_default_ms;
  for (size_t i = 0; i < sizeof builtin_rate_limits / sizeof builtin_rate_limits[0]; i++)
    cfg->api.rate_limit_ms[builtin_rate_limits[i].ep] = builtin_rate_limits[i].ms;
  for (int i = 0; i < API_EP_COUNT; i++) {
    path_join(kpath, path, names[i + 1]);
    get_duration(ld, values[i + 1], kpath, &cfg->api.rate_limit_ms[i], 0, HOUR_MS);
  }
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

static void load_api(loader_t *ld, const yaml_node_t *map, const yaml_node_t *at) {
  static const char *const names[] = {"base_url", "rate_limits", "timeout", "ca_file", "max_in_flight",
                                      "max_body_bytes", "global_rate", "retry", "token_dir"};
  enum { N = sizeof names / sizeof names[0] };
  enum { BASE_URL, RATE_LIMITS, TIMEOUT, CA_FILE, MAX_IN_FLIGHT, MAX_BODY, GLOBAL_RATE, RETRY, TOKEN_DIR };
  const yaml_node_t *v[N], *k[N];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "api", names, N, v, k)) return;
  if (v[BASE_URL]) load_base_url(ld, v[BASE_URL], "api.base_url");
  else report(ld, map ? map : at, "api.base_url", "required key is missing (e.g. base_url: https://api.mygps.mu)");
  load_rate_limits(ld, v[RATE_LIMITS], "api.rate_limits");
  get_duration(ld, v[TIMEOUT], "api.timeout", &cfg->api.timeout_ms, SEC_MS, HOUR_MS);
  char *ca = NULL;
  if (scalar_get(ld, v[CA_FILE], "api.ca_file", "a file name", &ca) > 0) {
    char *resolved = path_resolve(ld, ca);
    if (resolved && access(resolved, R_OK) != 0) {
      char raw[80];
      report(ld, v[CA_FILE], "api.ca_file", "cannot read '%s': %s", raw_shown(v[CA_FILE], raw, sizeof raw),
             strerror(errno));
      free(resolved);
    } else if (resolved) {
      cfg->api.ca_file = resolved;
    }
    free(ca);
  }
  get_int(ld, v[MAX_IN_FLIGHT], "api.max_in_flight", &cfg->api.max_in_flight, 1, 1024);
  get_integer(ld, v[MAX_BODY], "api.max_body_bytes", &cfg->api.max_body_bytes, 1024,
              (int64_t)1024 * 1024 * 1024, true);
  get_int(ld, v[GLOBAL_RATE], "api.global_rate", &cfg->api.global_rate, 0, 100000);
  char *dir = NULL;
  if (scalar_get(ld, v[TOKEN_DIR], "api.token_dir", "a directory (\"\": off)", &dir) > 0) {
    /* "" turns the shared store off; a relative name is relative to the file's folder */
    char *resolved = dir[0] ? path_resolve(ld, dir) : strdup(dir);
    if (!resolved) ld->oom = true;
    free(cfg->api.token_dir);
    cfg->api.token_dir = resolved;
    free(dir);
  }

  static const char *const retry_names[] = {"max_attempts", "base_delay", "max_delay"};
  const yaml_node_t *rv[3], *rk[3];
  if (section_open(ld, v[RETRY], "api.retry", retry_names, 3, rv, rk)) {
    get_int(ld, rv[0], "api.retry.max_attempts", &cfg->api.retry_max_attempts, 1, 100);
    get_duration(ld, rv[1], "api.retry.base_delay", &cfg->api.retry_base_delay_ms, 1, HOUR_MS);
    get_duration(ld, rv[2], "api.retry.max_delay", &cfg->api.retry_max_delay_ms, 1, DAY_MS);
    if (cfg->api.retry_max_delay_ms < cfg->api.retry_base_delay_ms) {
      const yaml_node_t *where = rv[2] ? rv[2] : rv[1] ? rv[1] : v[RETRY];
      report(ld, where, rv[2] ? "api.retry.max_delay" : "api.retry.base_delay",
             "max_delay must not be shorter than base_delay");
    }
  }
}

/* Reads a password file into buf (NUL-terminated, trailing CR/LF stripped).
 * 0, -errno, -EFBIG (too long) or -EINVAL (not a regular file). */
static int secret_file_read(const char *path, char *buf, size_t cap, size_t *len) {
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

/* Overwrites a secret scalar in the document so the tree freed later holds no copy. */
static void node_wipe(yaml_node_t *v) {
  if (v && v->type == YAML_SCALAR_NODE && v->data.scalar.value)
    explicit_bzero(v->data.scalar.value, v->data.scalar.length);
}

static void load_account(loader_t *ld, yaml_node_t *item, size_t index, config_account_t *acc) {
  static const char *const names[] = {"account", "password", "password_md5", "password_file", "subaccounts"};
  enum { N = sizeof names / sizeof names[0] };
  enum { ACCOUNT, PASSWORD, PASSWORD_MD5, PASSWORD_FILE, SUBACCOUNTS };
  const yaml_node_t *v[N], *k[N];
  char path[PATH_LEN], kpath[PATH_LEN];
  snprintf(path, sizeof path, "accounts[%zu]", index);
  acc->subaccounts = true;
  if (is_null(item) || item->type != YAML_MAPPING_NODE) {
    report(ld, item, path, "expected a mapping (account: NAME, password: ...), got %s",
           is_null(item) ? "nothing" : kind_name(item));
    return;
  }
  if (!section_open(ld, item, path, names, N, v, k)) return;

  path_join(kpath, path, "account");
  int rc = scalar_get(ld, v[ACCOUNT], kpath, "an account name", &acc->account);
  if (rc == 0 || (rc > 0 && !acc->account[0]))
    report(ld, v[ACCOUNT] ? v[ACCOUNT] : item, kpath, "required key is missing or empty");
  if (rc > 0) {
    for (size_t j = 0; j < index; j++) {
      const config_account_t *other = &ld->cfg->accounts[j];
      if (other->account && !strcmp(other->account, acc->account)) {
        char safe[80];
        report(ld, v[ACCOUNT], kpath, "duplicate account '%s' (already accounts[%zu])",
               shown(acc->account, strlen(acc->account), safe, sizeof safe), j);
        break;
      }
    }
  }

  int given = !!v[PASSWORD] + !!v[PASSWORD_MD5] + !!v[PASSWORD_FILE];
  if (given == 0) {
    report(ld, item, path, "needs one of password, password_md5 or password_file");
  } else if (given > 1) {
    const yaml_node_t *last = NULL; /* point at the one written last: the extra one */
    for (int i = PASSWORD; i <= PASSWORD_FILE; i++)
      if (k[i] && (!last || k[i]->start_mark.index > last->start_mark.index)) last = k[i];
    report(ld, last, path, "give only one of password, password_md5 and password_file");
  } else if (v[PASSWORD]) {
    path_join(kpath, path, "password");
    char *pw = NULL;
    rc = scalar_get(ld, v[PASSWORD], kpath, "a password", &pw);
    if (rc == 0 || (rc > 0 && !pw[0])) report(ld, v[PASSWORD], kpath, "empty password");
    else if (rc > 0 && api_md5_hex(pw, strlen(pw), acc->password_md5) != 0)
      report(ld, v[PASSWORD], kpath, "cannot compute the md5 of the password");
    secret_free(pw);
  } else if (v[PASSWORD_MD5]) {
    path_join(kpath, path, "password_md5");
    char *md5 = NULL;
    rc = scalar_get(ld, v[PASSWORD_MD5], kpath, "32 hex digits", &md5);
    if (rc >= 0 && (!md5 || !api_is_md5_hex(md5))) {
      report(ld, v[PASSWORD_MD5], kpath, "not 32 hex digits (the md5 of the password)");
    } else if (rc > 0) {
      for (int i = 0; i < API_MD5_HEX_LEN; i++) acc->password_md5[i] = (char)(md5[i] | 0x20);
      acc->password_md5[API_MD5_HEX_LEN] = '\0';
    }
    secret_free(md5);
  } else {
    path_join(kpath, path, "password_file");
    char *file = NULL;
    rc = scalar_get(ld, v[PASSWORD_FILE], kpath, "a file name", &file);
    if (rc == 0) report(ld, v[PASSWORD_FILE], kpath, "missing file name");
    char *resolved = rc > 0 ? path_resolve(ld, file) : NULL;
    if (resolved) {
      char secret[MAX_SECRET_BYTES + 1], raw[80];
      size_t len;
      int frc = secret_file_read(resolved, secret, sizeof secret, &len);
      raw_shown(v[PASSWORD_FILE], raw, sizeof raw);
      if (frc == -EFBIG)
        report(ld, v[PASSWORD_FILE], kpath, "'%s' is longer than %d bytes", raw, MAX_SECRET_BYTES);
      else if (frc == -EINVAL)
        report(ld, v[PASSWORD_FILE], kpath, "'%s' is not a regular file", raw);
      else if (frc < 0)
        report(ld, v[PASSWORD_FILE], kpath, "cannot read '%s': %s", raw, strerror(-frc));
      else if (len == 0)
        report(ld, v[PASSWORD_FILE], kpath, "'%s' holds an empty password", raw);
      else if (memchr(secret, '\0', len) || memchr(secret, '\n', len))
        report(ld, v[PASSWORD_FILE], kpath, "'%s' must hold the password on one line", raw);
      else if (api_md5_hex(secret, len, acc->password_md5) != 0)
        report(ld, v[PASSWORD_FILE], kpath, "cannot compute the md5 of the password");
      explicit_bzero(secret, sizeof secret);
    }
    free(resolved);
    free(file);
  }
  node_wipe((yaml_node_t *)v[PASSWORD]);
  node_wipe((yaml_node_t *)v[PASSWORD_MD5]);
  path_join(kpath, path, "subaccounts");
  get_bool(ld, v[SUBACCOUNTS], kpath, &acc->subaccounts);
}

static void load_accounts(loader_t *ld, const yaml_node_t *list, const yaml_node_t *at) {
  if (!list || is_null(list)) {
    report(ld, list ? list : at, "accounts", "required: a list of at least one account");
    return;
  }
  if (list->type != YAML_SEQUENCE_NODE) {
    report(ld, list, "accounts", "expected a list (- account: NAME ...), got %s", kind_name(list));
    return;
  }
  size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
  if (n == 0) {
    report(ld, list, "accounts", "the list is empty: give at least one account");
    return;
  }
  ld->cfg->accounts = calloc(n, sizeof *ld->cfg->accounts);
  if (!ld->cfg->accounts) {
    ld->oom = true;
    return;
  }
  ld->cfg->n_accounts = n;
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = node_get(ld, list->data.sequence.items.start[i]);
    if (item) load_account(ld, item, i, &ld->cfg->accounts[i]);
  }
}

static void load_database(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"conninfo", "batch_rows", "flush_interval", "queue_rows"};
  const yaml_node_t *v[4], *k[4];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "database", names, 4, v, k)) return;
  get_string(ld, v[0], "database.conninfo", &cfg->database.conninfo);
  get_int(ld, v[1], "database.batch_rows", &cfg->database.batch_rows, 1, 1000000);
  get_duration(ld, v[2], "database.flush_interval", &cfg->database.flush_interval_ms, 1, HOUR_MS);
  get_int(ld, v[3], "database.queue_rows", &cfg->database.queue_rows, 1, 100000000);
  if (cfg->database.queue_rows < cfg->database.batch_rows)
    report(ld, v[3] ? v[3] : v[1], v[3] ? "database.queue_rows" : "database.batch_rows",
           "queue_rows (%d) must be at least batch_rows (%d)", cfg->database.queue_rows,
           cfg->database.batch_rows);
}

static void load_streams(loader_t *ld, const yaml_node_t *list, const char *path) {
  if (!list || is_null(list)) return;
  if (list->type != YAML_SEQUENCE_NODE) {
    report(ld, list, path, "expected a list (e.g. [playback, alarms, mileage]), got %s", kind_name(list));
    return;
  }
  unsigned streams = 0;
  for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
    const yaml_node_t *v = node_get(ld, *it);
    char *s, ipath[PATH_LEN];
    snprintf(ipath, sizeof ipath, "%s[%zu]", path, (size_t)(it - list->data.sequence.items.start));
    if (!v || scalar_get(ld, v, ipath, "a stream name", &s) <= 0) {
      if (v && is_null(v)) report(ld, v, ipath, "empty stream name");
      continue;
    }
    unsigned bit = 0;
    for (unsigned i = 0; i < 3; i++)
      if (!strcmp(s, stream_names[i])) bit = 1u << i;
    if (!bit) {
      char expected[256], raw[80];
      expected_list(expected, sizeof expected, s, stream_names, 3);
      report(ld, v, ipath, "unknown stream '%s' (%s)", raw_shown(v, raw, sizeof raw), expected);
    } else if (streams & bit) {
      report(ld, v, ipath, "stream '%s' listed twice", s);
    }
    streams |= bit;
    free(s);
  }
  if (!streams && list->data.sequence.items.top == list->data.sequence.items.start)
    report(ld, list, path, "the list is empty: give at least one of playback, alarms, mileage");
  else if (streams)
    ld->cfg->archive.streams = streams;
}

static void load_archive(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"track_interval", "discovery_interval", "lookback", "streams",
                                      "give_up_after", "alarm_interval", "alarm_idle_interval",
                                      "gap_settle", "gap_min", "gap_max_attempts"};
  const yaml_node_t *v[10], *k[10];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "archive", names, 10, v, k)) return;
  get_duration(ld, v[0], "archive.track_interval", &cfg->archive.track_interval_ms, SEC_MS, DAY_MS);
  get_duration(ld, v[1], "archive.discovery_interval", &cfg->archive.discovery_interval_ms, MIN_MS, 30 * DAY_MS);
  get_duration(ld, v[2], "archive.lookback", &cfg->archive.lookback_ms, 0, 3650 * DAY_MS);
  load_streams(ld, v[3], "archive.streams");
  get_duration(ld, v[4], "archive.give_up_after", &cfg->archive.give_up_after_ms, SEC_MS, DAY_MS);
  get_duration(ld, v[5], "archive.alarm_interval", &cfg->archive.alarm_interval_ms, SEC_MS, DAY_MS);
  get_duration(ld, v[6], "archive.alarm_idle_interval", &cfg->archive.alarm_idle_interval_ms,
               MIN_MS, 30 * DAY_MS);
  get_duration(ld, v[7], "archive.gap_settle", &cfg->archive.gap_settle_ms, SEC_MS, DAY_MS);
  get_duration(ld, v[8], "archive.gap_min", &cfg->archive.gap_min_ms, SEC_MS, DAY_MS);
  get_int(ld, v[9], "archive.gap_max_attempts", &cfg->archive.gap_max_attempts, 0, 100);
}

static void load_log(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"level", "format"};
  static const char *const levels[] = {"error", "warn", "info", "debug"};
  static const char *const formats[] = {"text", "json"};
  const yaml_node_t *v[2], *k[2];
  if (!section_open(ld, map, "log", names, 2, v, k)) return;
  char *s, raw[80], expected[128];
  if (scalar_get(ld, v[0], "log.level", "a level", &s) > 0) {
    if (log_level_parse(s, &ld->cfg->log.level) != 0) {
      expected_list(expected, sizeof expected, s, levels, 4);
      report(ld, v[0], "log.level", "unknown level '%s' (%s)", raw_shown(v[0], raw, sizeof raw), expected);
    }
    free(s);
  }
  if (scalar_get(ld, v[1], "log.format", "a format", &s) > 0) {
    if (!strcmp(s, "text")) ld->cfg->log.format = LOG_FORMAT_TEXT;
    else if (!strcmp(s, "json")) ld->cfg->log.format = LOG_FORMAT_JSON;
    else {
      expected_list(expected, sizeof expected, s, formats, 2);
      report(ld, v[1], "log.format", "unknown format '%s' (%s)", raw_shown(v[1], raw, sizeof raw), expected);
    }
    free(s);
  }
}

/* "HOST:PORT" with an IPv4 literal or a bracketed IPv6 one, port 0 to 65535: names are
 * refused so that the endpoint never depends on a resolver at startup. */
static bool listen_valid(const char *s) {
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

static void load_metrics(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"listen", "unhealthy_after"};
  const yaml_node_t *v[2], *k[2];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "metrics", names, 2, v, k)) return;
  get_string(ld, v[0], "metrics.listen", &cfg->metrics.listen);
  if (cfg->metrics.listen && !listen_valid(cfg->metrics.listen)) {
    char raw[80];
    report(ld, v[0], "metrics.listen", "bad address '%s' (expected HOST:PORT with an IPv4 "
           "address or [IPv6], e.g. 127.0.0.1:9187)", raw_shown(v[0], raw, sizeof raw));
  }
  get_duration(ld, v[1], "metrics.unhealthy_after", &cfg->metrics.unhealthy_after_ms, SEC_MS, DAY_MS);
}

static void load_cluster(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"enabled", "lease_ttl", "instance"};
  const yaml_node_t *v[3], *k[3];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "cluster", names, 3, v, k)) return;
  get_bool(ld, v[0], "cluster.enabled", &cfg->cluster.enabled);
  get_duration(ld, v[1], "cluster.lease_ttl", &cfg->cluster.lease_ttl_ms, 3 * SEC_MS, HOUR_MS);
  get_string(ld, v[2], "cluster.instance", &cfg->cluster.instance);
}

static void load_retention(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"positions", "alarms", "interval"};
  const yaml_node_t *v[3], *k[3];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "retention", names, 3, v, k)) return;
  /* At least a month and a day: a cutoff can then never reach into the current month. */
  get_duration(ld, v[0], "retention.positions", &cfg->retention.positions_ms, 32 * DAY_MS, 36500 * DAY_MS);
  get_duration(ld, v[1], "retention.alarms", &cfg->retention.alarms_ms, 32 * DAY_MS, 36500 * DAY_MS);
  get_duration(ld, v[2], "retention.interval", &cfg->retention.interval_ms, MIN_MS, 7 * DAY_MS);
}

/* ---- entry points ---- */

static int config_defaults(config_t *cfg) {
  cfg->api.timeout_ms = 30 * SEC_MS;
  cfg->api.max_in_flight = 16;
  cfg->api.max_body_bytes = 16 * 1024 * 1024;
  cfg->api.global_rate = 0;
  cfg->api.retry_max_attempts = 8;
  cfg->api.retry_base_delay_ms = SEC_MS;
  cfg->api.retry_max_delay_ms = 5 * MIN_MS;
  cfg->api.rate_limit_default_ms = SEC_MS;
  for (int i = 0; i < API_EP_COUNT; i++) cfg->api.rate_limit_ms[i] = cfg->api.rate_limit_default_ms;
  for (size_t i = 0; i < sizeof builtin_rate_limits / sizeof builtin_rate_limits[0]; i++)
    cfg->api.rate_limit_ms[builtin_rate_limits[i].ep] = builtin_rate_limits[i].ms;
  char dir[512];
  if (config_token_dir_default(dir, sizeof dir) == 0) cfg->api.token_dir = strdup(dir);
  else cfg->api.token_dir = strdup(""); /* no usable default: in-process logins only */
  if (!cfg->api.token_dir) return -ENOMEM;
  cfg->database.conninfo = strdup("postgresql:///fleetarc");
  cfg->database.batch_rows = 10000;
  cfg->database.flush_interval_ms = SEC_MS;
  cfg->database.queue_rows = 100000;
  cfg->archive.track_interval_ms = 60 * SEC_MS;
  cfg->archive.discovery_interval_ms = HOUR_MS;
  cfg->archive.lookback_ms = 7 * DAY_MS;
  cfg->archive.streams = CONFIG_STREAM_ALL;
  cfg->archive.give_up_after_ms = 2 * MIN_MS;
  cfg->archive.alarm_interval_ms = 10 * MIN_MS;
  cfg->archive.alarm_idle_interval_ms = 6 * HOUR_MS;
  cfg->archive.gap_settle_ms = 30 * MIN_MS;
  cfg->archive.gap_min_ms = 5 * MIN_MS;
  cfg->archive.gap_max_attempts = 3;
  cfg->log.level = LOG_LEVEL_INFO;
  cfg->log.format = LOG_FORMAT_TEXT;
  cfg->metrics.unhealthy_after_ms = 60 * SEC_MS;
  cfg->retention.interval_ms = 6 * HOUR_MS;
  cfg->cluster.lease_ttl_ms = 15 * SEC_MS;
  return cfg->database.conninfo ? 0 : -ENOMEM;
}

static void syntax_error(loader_t *ld, const yaml_parser_t *parser) {
  const char *problem = parser->problem ? parser->problem : "unknown problem";
  if (parser->error == YAML_MEMORY_ERROR) {
    ld->oom = true;
  } else if (parser->error == YAML_READER_ERROR) {
    report(ld, NULL, NULL, "YAML error at byte %zu: %s", parser->problem_offset, problem);
  } else {
    yaml_node_t at = {0};
    at.start_mark = parser->problem_mark;
    if (parser->context)
      report(ld, &at, NULL, "YAML syntax error: %s %s (line %zu column %zu)", problem, parser->context,
             parser->context_mark.line + 1, parser->context_mark.column + 1);
    else
      report(ld, &at, NULL, "YAML syntax error: %s", problem);
  }
}

/* The parser's buffers hold the text (and so any password written in it). */
static void parser_wipe(yaml_parser_t *parser) {
  if (parser->buffer.start) explicit_bzero(parser->buffer.start, (size_t)(parser->buffer.end - parser->buffer.start));
  if (parser->raw_buffer.start)
    explicit_bzero(parser->raw_buffer.start, (size_t)(parser->raw_buffer.end - parser->raw_buffer.start));
}

static int load(const char *text, size_t len, const char *name, char *base_dir, config_t **out, buf_t *errors) {
  int rc = 0;
  *out = NULL;
  loader_t ld = {.name = name, .base_dir = base_dir, .errors = errors};
  yaml_parser_t parser;
  bool doc_loaded = false;
  if (!yaml_parser_initialize(&parser)) return -ENOMEM;
  ld.cfg = calloc(1, sizeof *ld.cfg);
  if (!ld.cfg || config_defaults(ld.cfg) != 0 || !(ld.cfg->source = strdup(name))) {
    ld.oom = true;
    goto out;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &ld.doc)) {
    syntax_error(&ld, &parser);
    goto out;
  }
  doc_loaded = true;
  yaml_node_t *root = yaml_document_get_root_node(&ld.doc);
  if (root) {
    yaml_document_t extra;
    if (!yaml_parser_load(&parser, &extra)) {
      syntax_error(&ld, &parser);
      goto out;
    }
    if (yaml_document_get_root_node(&extra)) {
      yaml_node_t at = {0};
      at.start_mark = yaml_document_get_root_node(&extra)->start_mark;
      report(&ld, &at, NULL, "only one YAML document is allowed");
    }
    yaml_document_delete(&extra);
  }
  if (!root || is_null(root)) {
    report(&ld, NULL, NULL, "empty configuration (api.base_url and accounts are required)");
    goto out;
  }

  static const char *const names[] = {"api", "accounts", "database", "archive", "log", "metrics",
                                      "retention", "cluster"};
  const yaml_node_t *v[8], *k[8];
  if (root->type != YAML_MAPPING_NODE) {
    report(&ld, root, NULL, "the configuration must be a mapping (api:, accounts:, ...), got %s", kind_name(root));
    goto out;
  }
  section_open(&ld, root, "", names, 8, v, k);
  if (v[0]) load_api(&ld, v[0], k[0]);
  else report(&ld, root, "api", "required key is missing (api: base_url: ...)");
  load_accounts(&ld, v[1], root);
  load_database(&ld, v[2]);
  load_archive(&ld, v[3]);
  load_log(&ld, v[4]);
  load_metrics(&ld, v[5]);
  load_retention(&ld, v[6]);
  load_cluster(&ld, v[7]);

out:
  errors_flush(&ld);
  if (doc_loaded) yaml_document_delete(&ld.doc);
  parser_wipe(&parser);
  yaml_parser_delete(&parser);
  if (ld.oom) rc = -ENOMEM;
  else if (ld.n_errors) rc = -EINVAL;
  if (rc) config_free(ld.cfg);
  else *out = ld.cfg;
  return rc;
}

int config_load_string(const char *text, size_t len, const char *name, config_t **out, buf_t *errors) {
  return load(text, len, name ? name : "(config)", NULL, out, errors);
}

int config_load_file(const char *path, config_t **out, buf_t *errors) {
  int rc = 0;
  char *text = NULL, *dir = NULL;
  size_t len = 0, cap = 0;
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = -errno;
    goto fail_errno;
  }
  for (;;) {
    if (len == cap) {
      if (cap >= MAX_CONFIG_BYTES) {
        rc = -EFBIG;
        break;
      }
      cap = cap ? cap * 2 : 16384;
      char *bigger = malloc(cap);
      if (!bigger) {
        rc = -ENOMEM;
        break;
      }
      if (text) {
        memcpy(bigger, text, len);
        explicit_bzero(text, len);
      }
      free(text);
      text = bigger;
    }
    ssize_t r = read(fd, text + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = -errno;
    if (r <= 0) break;
    len += (size_t)r;
  }
  close(fd);
  if (rc) goto fail_errno;
  const char *slash = strrchr(path, '/');
  dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
  if (!dir) {
    rc = -ENOMEM;
    goto out;
  }
  rc = load(text, len, path, dir, out, errors);
  goto out;

fail_errno:
  if (errors && rc != -ENOMEM) {
    const char *why = rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc);
    if (buf_printf(errors, "%s: cannot read the configuration: %s\n", path, why)) rc = -ENOMEM;
  }
out:
  if (text) explicit_bzero(text, cap);
  free(text);
  free(dir);
  return rc;
}

void config_free(config_t *cfg) {
  if (!cfg) return;
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    free(cfg->accounts[i].account);
    explicit_bzero(cfg->accounts[i].password_md5, sizeof cfg->accounts[i].password_md5);
  }
  free(cfg->accounts);
  free(cfg->api.base_url);
  free(cfg->api.ca_file);
  free(cfg->api.token_dir);
  free(cfg->metrics.listen);
  free(cfg->cluster.instance);
  secret_free(cfg->database.conninfo);
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

const char *config_stream_name(unsigned stream) {
  for (unsigned i = 0; i < 3; i++)
    if (stream == 1u << i) return stream_names[i];
  return NULL;
}

/* ---- printing ---- */

/* A double-quoted YAML string that reads back as s (with ${ written $${). */
static void print_string(FILE *out, const char *s) {
  if (!s) {
    fputs("null", out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c == '$' && s[1] == '{') fputs("$$", out);
    else if (c < 0x20 || c == 0x7f) fprintf(out, "\\x%02x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

/* conninfo with the values of password and sslpassword (key=value form, URI query) and
 * the password of a URI's user info replaced by ***. malloc'd, NULL on ENOMEM. */
static char *conninfo_masked(const char *ci) {
  buf_t out = BUF_INIT;
  int rc = 0;
  bool uri = !strncmp(ci, "postgresql://", 13) || !strncmp(ci, "postgres://", 11);
  if (uri) {
    const char *auth = strstr(ci, "://") + 3;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
      if (*p == '@') at = p;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
      rc |= buf_append(&out, ci, (size_t)(colon + 1 - ci));
      rc |= buf_puts(&out, LOG_MASK);
      ci = at;
    }
    const char *q = strchr(ci, '?');
    if (!q) {
      rc |= buf_puts(&out, ci);
    } else {
      rc |= buf_append(&out, ci, (size_t)(q + 1 - ci));
      for (const char *p = q + 1; *p;) {
        size_t n = strcspn(p, "&");
        bool secret = (n >= 9 && !strncmp(p, "password=", 9)) || (n >= 12 && !strncmp(p, "sslpassword=", 12));
        if (secret) {
          rc |= buf_append(&out, p, (size_t)(strchr(p, '=') + 1 - p));
          rc |= buf_puts(&out, LOG_MASK);
        } else {
          rc |= buf_append(&out, p, n);
        }
        p += n;
        if (*p == '&') rc |= buf_putc(&out, *p++);
      }
    }
  } else {
    const char *p = ci;
    while (*p) {
      const char *start = p;
      while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
      const char *kw = p;
      while (*p && *p != '=' && *p != ' ' && *p != '\t') p++;
      size_t kwlen = (size_t)(p - kw);
      while (*p == ' ' || *p == '\t') p++;
      if (*p == '=') p++;
      while (*p == ' ' || *p == '\t') p++;
      const char *val = p;
      if (*p == '\'') {
        for (p++; *p && *p != '\''; p++)
          if (*p == '\\' && p[1]) p++;
        if (*p == '\'') p++;
      } else {
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
      }
      bool secret = (kwlen == 8 && !strncmp(kw, "password", 8)) || (kwlen == 11 && !strncmp(kw, "sslpassword", 11));
      rc |= buf_append(&out, start, (size_t)(val - start));
      if (secret) rc |= buf_puts(&out, LOG_MASK);
      else rc |= buf_append(&out, val, (size_t)(p - val));
      if (p == start) break; /* no progress: cannot happen, but never loop */
    }
  }
  if (rc) {
    buf_free(&out);
    return NULL;
  }
  return buf_steal(&out);
}

void config_print(const config_t *cfg, FILE *out) {
  char d[48];
#define DUR(ms) timeparse_format_duration((ms), d, sizeof d)
  fprintf(out, "# fleetarc configuration from %s, defaults filled in, secrets masked\n", cfg->source);
  fputs("api:\n  base_url: ", out);
  print_string(out, cfg->api.base_url);
  fputs("\n  ca_file: ", out);
  print_string(out, cfg->api.ca_file);
  fputs("\n  token_dir: ", out);
  print_string(out, cfg->api.token_dir);
  fprintf(out, "\n  timeout: %s\n", DUR(cfg->api.timeout_ms));
  fprintf(out, "  max_in_flight: %d\n", cfg->api.max_in_flight);
  fprintf(out, "  max_body_bytes: %lld\n", (long long)cfg->api.max_body_bytes);
  fprintf(out, "  global_rate: %d\n", cfg->api.global_rate);
  fprintf(out, "  retry:\n    max_attempts: %d\n", cfg->api.retry_max_attempts);
  fprintf(out, "    base_delay: %s\n", DUR(cfg->api.retry_base_delay_ms));
  fprintf(out, "    max_delay: %s\n", DUR(cfg->api.retry_max_delay_ms));
  fprintf(out, "  rate_limits:\n    default: %s\n", DUR(cfg->api.rate_limit_default_ms));
  for (int i = 0; i < API_EP_COUNT; i++)
    fprintf(out, "    %s: %s\n", api_endpoint_key((api_endpoint_t)i), DUR(cfg->api.rate_limit_ms[i]));
  fputs("accounts:\n", out);
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    fputs("  - account: ", out);
    print_string(out, cfg->accounts[i].account);
    fprintf(out, "\n    password_md5: \"%s\"\n", LOG_MASK);
    fprintf(out, "    subaccounts: %s\n", cfg->accounts[i].subaccounts ? "true" : "false");
  }
  fputs("database:\n  conninfo: ", out);
  char *masked = conninfo_masked(cfg->database.conninfo);
  if (masked) print_string(out, masked);
  else fprintf(out, "\"%s\"", LOG_MASK);
  free(masked);
  fprintf(out, "\n  batch_rows: %d\n", cfg->database.batch_rows);
  fprintf(out, "  flush_interval: %s\n", DUR(cfg->database.flush_interval_ms));
  fprintf(out, "  queue_rows: %d\n", cfg->database.queue_rows);
  fprintf(out, "archive:\n  track_interval: %s\n", DUR(cfg->archive.track_interval_ms));
  fprintf(out, "  discovery_interval: %s\n", DUR(cfg->archive.discovery_interval_ms));
  fprintf(out, "  lookback: %s\n", DUR(cfg->archive.lookback_ms));
  fputs("  streams: [", out);
  for (unsigned i = 0, first = 1; i < 3; i++) {
    if (!(cfg->archive.streams & (1u << i))) continue;
    fprintf(out, "%s%s", first ? "" : ", ", stream_names[i]);
    first = 0;
  }
  fputs("]\n", out);
  fprintf(out, "  give_up_after: %s\n", DUR(cfg->archive.give_up_after_ms));
  fprintf(out, "  alarm_interval: %s\n", DUR(cfg->archive.alarm_interval_ms));
  fprintf(out, "  alarm_idle_interval: %s\n", DUR(cfg->archive.alarm_idle_interval_ms));
  fprintf(out, "  gap_settle: %s\n", DUR(cfg->archive.gap_settle_ms));
  fprintf(out, "  gap_min: %s\n", DUR(cfg->archive.gap_min_ms));
  fprintf(out, "  gap_max_attempts: %d\n", cfg->archive.gap_max_attempts);
  fprintf(out, "log:\n  level: %s\n  format: %s\n", log_level_name(cfg->log.level),
          cfg->log.format == LOG_FORMAT_JSON ? "json" : "text");
  fputs("metrics:\n  listen: ", out);
  print_string(out, cfg->metrics.listen);
  fprintf(out, "\n  unhealthy_after: %s\n", DUR(cfg->metrics.unhealthy_after_ms));
  fputs("retention:\n  positions: ", out);
  if (cfg->retention.positions_ms) fputs(DUR(cfg->retention.positions_ms), out);
  fputs("\n  alarms: ", out);
  if (cfg->retention.alarms_ms) fputs(DUR(cfg->retention.alarms_ms), out);
  fprintf(out, "\n  interval: %s\n", DUR(cfg->retention.interval_ms));
  fprintf(out, "cluster:\n  enabled: %s\n  lease_ttl: %s\n  instance: ",
          cfg->cluster.enabled ? "true" : "false", DUR(cfg->cluster.lease_ttl_ms));
  print_string(out, cfg->cluster.instance);
  fputc('\n', out);
#undef DUR
}
