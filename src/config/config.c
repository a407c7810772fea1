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

#include "db/conn.h"
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
  bool secret;   /* the scalar being read is a secret: its ${VAR}s leave the environment */
  config_t *cfg; /* being filled; handed to the caller only when n_errors is 0 */
  /* While a credential is read: where an unavailable one (an unset variable, a file
   * that cannot be opened) is noted instead of failing the load (config.h:
   * credential_error), and whether that happened. */
  char *defer;
  size_t defer_cap;
  bool deferred;
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
  msg[0] = '\0';
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

/* Environment variables that held a secret. Once read they leave the environment:
 * /proc/PID/environ shows it to whoever may inspect the process, and every child would
 * inherit it. The value is wiped where the environment held it (unsetenv alone leaves
 * the initial strings readable there) and kept here, in the heap, for a reload (SIGHUP)
 * that expands the same ${NAME} again. Process lifetime: never freed. */
static struct env_secret {
  char *name, *value;
} *env_secrets;
static size_t n_env_secrets;

static const char *env_secret_take(const char *name) {
  for (size_t i = 0; i < n_env_secrets; i++)
    if (strcmp(env_secrets[i].name, name) == 0) return env_secrets[i].value;
  char *v = getenv(name);
  if (!v) return NULL;
  struct env_secret *grown = realloc(env_secrets, (n_env_secrets + 1) * sizeof *grown);
  if (!grown) return NULL;
  env_secrets = grown;
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

/* A variable for any other value: the environment, else one a secret already took. */
static const char *env_lookup(const char *name) {
  const char *v = getenv(name);
  if (v) return v;
  for (size_t i = 0; i < n_env_secrets; i++)
    if (strcmp(env_secrets[i].name, name) == 0) return env_secrets[i].value;
  return NULL;
}

/* A credential that cannot be had here (deferred, see loader_t.defer): noted, not an
 * error of the file. Only the first reason of a key is kept. */
static void note_unavailable(loader_t *ld, const yaml_node_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note_unavailable(loader_t *ld, const yaml_node_t *at, const char *path, const char *fmt, ...) {
  ld->deferred = true;
  if (!ld->defer || ld->defer[0]) return;
  int n = at ? snprintf(ld->defer, ld->defer_cap, "%s:%zu:%zu: key '%s': ", ld->name,
                        at->start_mark.line + 1, at->start_mark.column + 1, path)
             : snprintf(ld->defer, ld->defer_cap, "%s: key '%s': ", ld->name, path);
  if (n >= 0 && (size_t)n < ld->defer_cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->defer + n, ld->defer_cap - (size_t)n, fmt, ap);
    va_end(ap);
  }
}

/* ${NAME} expansion; $${ stands for a literal ${. Returns a malloc'd string or NULL after
 * reporting (an unset variable while a credential is read: after noting it, see
 * loader_t.defer). The value itself is never quoted in a message (it may be a secret). */
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
      const char *value = ld->secret ? env_secret_take(name) : env_lookup(name);
      if (!value && ld->defer) {
        note_unavailable(ld, v, path, "environment variable %s is not set", name);
        goto fail;
      }
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

  static const char *const retry_names[] = {"max_attempts", "base_delay", "max_delay",
                                            "write_max_attempts", "write_max_time"};
  const yaml_node_t *rv[5], *rk[5];
  if (section_open(ld, v[RETRY], "api.retry", retry_names, 5, rv, rk)) {
    get_int(ld, rv[3], "api.retry.write_max_attempts", &cfg->api.retry_write_max_attempts, 1, 1000);
    get_duration(ld, rv[4], "api.retry.write_max_time", &cfg->api.retry_write_max_time_ms, SEC_MS, DAY_MS);
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

static void defer_begin(loader_t *ld, config_account_t *acc) {
  ld->defer = acc->credential_error;
  ld->defer_cap = sizeof acc->credential_error;
  ld->deferred = false;
}

static void defer_end(loader_t *ld) { ld->defer = NULL; }

/* One password file: 1 read (md5 set), 0 cannot be had here (an unset variable in its
 * name, a file that cannot be opened: the reason appended to why), -1 reported (a file
 * that is there but holds no proper password). */
static int password_file_try(loader_t *ld, const yaml_node_t *v, const char *kpath,
                             config_account_t *acc, buf_t *why) {
  char *file = NULL, raw[80];
  ld->defer = NULL;
  char reason[256] = "";
  ld->defer = reason;
  ld->defer_cap = sizeof reason;
  ld->deferred = false;
  int rc = scalar_get(ld, v, kpath, "a file name", &file);
  ld->defer = NULL;
  raw_shown(v, raw, sizeof raw);
  if (rc < 0 && ld->deferred) {
    const char *r = strstr(reason, "': ");
    if (buf_printf(why, "%s'%s' (%s)", why->len ? "; " : "", raw, r ? r + 3 : reason)) ld->oom = true;
    return 0;
  }
  if (rc == 0) report(ld, v, kpath, "missing file name");
  char *resolved = rc > 0 ? path_resolve(ld, file) : NULL;
  int out = -1;
  if (resolved) {
    char secret[MAX_SECRET_BYTES + 1];
    size_t len;
    int frc = secret_file_read(resolved, secret, sizeof secret, &len);
    if (frc == -ENOENT || frc == -EACCES || frc == -EPERM || frc == -ENOTDIR) {
      if (buf_printf(why, "%s'%s' (%s)", why->len ? "; " : "", raw, strerror(-frc))) ld->oom = true;
      out = 0;
    } else if (frc == -EFBIG)
      report(ld, v, kpath, "'%s' is longer than %d bytes", raw, MAX_SECRET_BYTES);
    else if (frc == -EINVAL)
      report(ld, v, kpath, "'%s' is not a regular file", raw);
    else if (frc < 0)
      report(ld, v, kpath, "cannot read '%s': %s", raw, strerror(-frc));
    else if (len == 0)
      report(ld, v, kpath, "'%s' holds an empty password", raw);
    else if (memchr(secret, '\0', len) || memchr(secret, '\n', len))
      report(ld, v, kpath, "'%s' must hold the password on one line", raw);
    else if (api_md5_hex(secret, len, acc->password_md5) != 0)
      report(ld, v, kpath, "cannot compute the md5 of the password");
    else
      out = 1;
    explicit_bzero(secret, sizeof secret);
  }
  free(resolved);
  free(file);
  return out;
}

/* password_file: one file name or a list of them, the first that can be read wins
 * (e.g. [${CREDENTIALS_DIRECTORY}/fleetarc-password, /etc/fleetarc/password]: the
 * service's credential inside the unit, the file for its group outside). When none can
 * be read here, the account's credential_error says why and the load goes on: only the
 * commands that log in need it (config_credentials_check). */
static void load_password_file(loader_t *ld, const yaml_node_t *v, const char *kpath, config_account_t *acc) {
  buf_t why = BUF_INIT;
  int got = -1;
  if (v && v->type == YAML_SEQUENCE_NODE) {
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) report(ld, v, kpath, "an empty list: give at least one file name");
    bool failed = false;
    for (size_t i = 0; i < n && got != 1; i++) {
      const yaml_node_t *item = yaml_document_get_node(&ld->doc, v->data.sequence.items.start[i]);
      char ipath[PATH_LEN + 24];
      snprintf(ipath, sizeof ipath, "%s[%zu]", kpath, i);
      if (!item || item->type != YAML_SCALAR_NODE) {
        report(ld, item ? item : v, ipath, "expected a file name, got %s", item ? kind_name(item) : "nothing");
        failed = true;
        continue;
      }
      int rc = password_file_try(ld, item, ipath, acc, &why);
      if (rc < 0) failed = true;
      if (rc == 1) got = 1;
      else if (rc == 0 && got < 0) got = 0;
    }
    if (failed) got = -1;
  } else {
    got = password_file_try(ld, v, kpath, acc, &why);
  }
  if (got == 0 && why.len) {
    snprintf(acc->credential_error, sizeof acc->credential_error,
             "%s:%zu:%zu: key '%s': no password file can be read here: %s", ld->name,
             v->start_mark.line + 1, v->start_mark.column + 1, kpath, why.data);
  }
  if (got == 1) acc->credential_error[0] = '\0';
  buf_free(&why);
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
    ld->secret = true;
    defer_begin(ld, acc);
    rc = scalar_get(ld, v[PASSWORD], kpath, "a password", &pw);
    defer_end(ld);
    ld->secret = false;
    if (rc == 0 || (rc > 0 && !pw[0])) report(ld, v[PASSWORD], kpath, "empty password");
    else if (rc > 0 && api_md5_hex(pw, strlen(pw), acc->password_md5) != 0)
      report(ld, v[PASSWORD], kpath, "cannot compute the md5 of the password");
    secret_free(pw);
  } else if (v[PASSWORD_MD5]) {
    path_join(kpath, path, "password_md5");
    char *md5 = NULL;
    ld->secret = true;
    defer_begin(ld, acc);
    rc = scalar_get(ld, v[PASSWORD_MD5], kpath, "32 hex digits", &md5);
    defer_end(ld);
    ld->secret = false;
    if (rc >= 0 && (!md5 || !api_is_md5_hex(md5))) {
      report(ld, v[PASSWORD_MD5], kpath, "not 32 hex digits (the md5 of the password)");
    } else if (rc > 0) {
      for (int i = 0; i < API_MD5_HEX_LEN; i++) acc->password_md5[i] = (char)(md5[i] | 0x20);
      acc->password_md5[API_MD5_HEX_LEN] = '\0';
    }
    secret_free(md5);
  } else {
    path_join(kpath, path, "password_file");
    load_password_file(ld, v[PASSWORD_FILE], kpath, acc);
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
  ld->secret = true; /* a conninfo may hold a password */
  get_string(ld, v[0], "database.conninfo", &cfg->database.conninfo);
  ld->secret = false;
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
      if (!strcmp(s, stream_name((int)i))) bit = STREAM_BIT(i);
    if (!bit) {
      char expected[256], raw[80];
      {
        const char *names[STREAM_COUNT];
        for (int k = 0; k < STREAM_COUNT; k++) names[k] = stream_name(k);
        expected_list(expected, sizeof expected, s, names, STREAM_COUNT);
      }
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
                                      "gap_settle", "gap_min", "gap_max_attempts",
                                      "max_subaccounts", "max_subaccount_depth"};
  const yaml_node_t *v[12], *k[12];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "archive", names, 12, v, k)) return;
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
  get_int(ld, v[10], "archive.max_subaccounts", &cfg->archive.max_subaccounts, 0, 10000000);
  get_int(ld, v[11], "archive.max_subaccount_depth", &cfg->archive.max_subaccount_depth, 1, 1000);
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

/* RFC 4648 base64 of in[0..n) into out (4 * ((n + 2) / 3) + 1 bytes). */
static void base64_encode(const unsigned char *in, size_t n, char *out) {
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

/* metrics.auth: "file:PATH" (one line "user:password": HTTP basic) or a bearer token. */
static void load_metrics_auth(loader_t *ld, const yaml_node_t *v) {
  config_t *cfg = ld->cfg;
  char *s = NULL;
  ld->secret = true;
  int rc = scalar_get(ld, v, "metrics.auth", "a bearer token or file:PATH", &s);
  ld->secret = false;
  node_wipe((yaml_node_t *)v);
  if (rc <= 0) return;
  buf_t hdr = BUF_INIT;
  if (strncmp(s, "file:", 5) == 0) {
    char *resolved = path_resolve(ld, s + 5);
    if (resolved) {
      char secret[MAX_SECRET_BYTES + 1];
      char b64[4 * ((MAX_SECRET_BYTES + 2) / 3) + 1];
      size_t len = 0;
      int frc = secret_file_read(resolved, secret, sizeof secret, &len);
      if (frc < 0)
        report(ld, v, "metrics.auth", "cannot read the basic-auth file: %s",
               frc == -EINVAL ? "not a regular file" : strerror(-frc));
      else if (!memchr(secret, ':', len) || memchr(secret, '\n', len) || memchr(secret, '\0', len))
        report(ld, v, "metrics.auth", "the basic-auth file must hold one line USER:PASSWORD");
      else {
        base64_encode((const unsigned char *)secret, len, b64);
        if (buf_printf(&hdr, "Basic %s", b64)) ld->oom = true;
      }
      explicit_bzero(secret, sizeof secret);
      explicit_bzero(b64, sizeof b64);
    }
    free(resolved);
  } else if (!s[0] || strpbrk(s, " \t\r\n")) {
    report(ld, v, "metrics.auth", "a bearer token must be one word (or write file:PATH)");
  } else if (buf_printf(&hdr, "Bearer %s", s)) {
    ld->oom = true;
  }
  explicit_bzero(s, strlen(s));
  free(s);
  if (hdr.data) {
    if (cfg->metrics.auth_header) explicit_bzero(cfg->metrics.auth_header, strlen(cfg->metrics.auth_header));
    free(cfg->metrics.auth_header);
    cfg->metrics.auth_header = buf_steal(&hdr);
  }
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

static void load_metrics(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"listen", "unhealthy_after", "auth"};
  const yaml_node_t *v[3], *k[3];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "metrics", names, 3, v, k)) return;
  if (v[2]) load_metrics_auth(ld, v[2]);
  get_string(ld, v[0], "metrics.listen", &cfg->metrics.listen);
  if (cfg->metrics.listen && !listen_valid(cfg->metrics.listen)) {
    char raw[80];
    report(ld, v[0], "metrics.listen", "bad address '%s' (expected HOST:PORT with an IPv4 "
           "address or [IPv6], e.g. 127.0.0.1:9187)", raw_shown(v[0], raw, sizeof raw));
  }
  get_duration(ld, v[1], "metrics.unhealthy_after", &cfg->metrics.unhealthy_after_ms, SEC_MS, DAY_MS);
}

static void load_console(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"tiles", "attribution", "conninfo"};
  const yaml_node_t *v[3], *k[3];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "console", names, 3, v, k)) return;
  get_string(ld, v[0], "console.tiles", &cfg->console.tiles);
  get_string(ld, v[1], "console.attribution", &cfg->console.attribution);
  ld->secret = true; /* a conninfo may hold a password */
  get_string(ld, v[2], "console.conninfo", &cfg->console.conninfo);
  ld->secret = false;
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
  static const char *const names[] = {"positions", "alarms", "interval", "rejected"};
  const yaml_node_t *v[4], *k[4];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "retention", names, 4, v, k)) return;
  /* At least a month and a day: a cutoff can then never reach into the current month. */
  get_duration(ld, v[0], "retention.positions", &cfg->retention.positions_ms, 32 * DAY_MS, 36500 * DAY_MS);
  get_duration(ld, v[1], "retention.alarms", &cfg->retention.alarms_ms, 32 * DAY_MS, 36500 * DAY_MS);
  get_duration(ld, v[2], "retention.interval", &cfg->retention.interval_ms, MIN_MS, 7 * DAY_MS);
  get_duration(ld, v[3], "retention.rejected", &cfg->retention.rejected_ms, DAY_MS, 36500 * DAY_MS);
}

/* An IANA zone name as PostgreSQL takes it: letters, digits, '_', '+', '-', '/' parts. */
static bool timezone_valid(const char *s) {
  if (!*s || *s == '/' || strstr(s, "..") || strstr(s, "//")) return false;
  return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") == strlen(s);
}

static void load_reports(loader_t *ld, const yaml_node_t *map) {
  static const char *const names[] = {"timezone"};
  const yaml_node_t *v[1], *k[1];
  config_t *cfg = ld->cfg;
  if (!section_open(ld, map, "reports", names, 1, v, k)) return;
  char *tz = NULL;
  get_string(ld, v[0], "reports.timezone", &tz);
  if (!tz) return;
  if (!timezone_valid(tz)) {
    char raw[80];
    report(ld, v[0], "reports.timezone", "bad time zone '%s' (expected an IANA name such as "
           "Europe/Berlin or UTC)", raw_shown(v[0], raw, sizeof raw));
  }
  free(cfg->reports.timezone);
  cfg->reports.timezone = tz;
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
  cfg->api.retry_write_max_attempts = 10;
  cfg->api.retry_write_max_time_ms = 5 * MIN_MS;
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
  cfg->archive.streams = STREAM_ALL_BITS;
  cfg->archive.give_up_after_ms = 2 * MIN_MS;
  cfg->archive.alarm_interval_ms = 10 * MIN_MS;
  cfg->archive.alarm_idle_interval_ms = 6 * HOUR_MS;
  cfg->archive.gap_settle_ms = 30 * MIN_MS;
  cfg->archive.gap_min_ms = 5 * MIN_MS;
  cfg->archive.gap_max_attempts = 3;
  cfg->archive.max_subaccounts = 10000;
  cfg->archive.max_subaccount_depth = 16;
  cfg->log.level = LOG_LEVEL_INFO;
  cfg->log.format = LOG_FORMAT_TEXT;
  cfg->metrics.unhealthy_after_ms = 60 * SEC_MS;
  cfg->retention.interval_ms = 6 * HOUR_MS;
  cfg->retention.rejected_ms = 90 * DAY_MS;
  cfg->reports.timezone = strdup("UTC");
  cfg->console.tiles = strdup(CONFIG_CONSOLE_TILES_DEFAULT);
  cfg->console.attribution = strdup(CONFIG_CONSOLE_ATTRIBUTION_DEFAULT);
  if (!cfg->console.tiles || !cfg->console.attribution || !cfg->reports.timezone) return -ENOMEM;
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
                                      "retention", "reports", "console", "cluster"};
  const yaml_node_t *v[10], *k[10];
  if (root->type != YAML_MAPPING_NODE) {
    report(&ld, root, NULL, "the configuration must be a mapping (api:, accounts:, ...), got %s", kind_name(root));
    goto out;
  }
  section_open(&ld, root, "", names, 10, v, k);
  if (v[0]) load_api(&ld, v[0], k[0]);
  else report(&ld, root, "api", "required key is missing (api: base_url: ...)");
  load_accounts(&ld, v[1], root);
  load_database(&ld, v[2]);
  load_archive(&ld, v[3]);
  load_log(&ld, v[4]);
  load_metrics(&ld, v[5]);
  load_retention(&ld, v[6]);
  load_reports(&ld, v[7]);
  load_console(&ld, v[8]);
  load_cluster(&ld, v[9]);

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
  free(cfg->console.tiles);
  free(cfg->console.attribution);
  secret_free(cfg->console.conninfo);
  secret_free(cfg->metrics.auth_header);
  free(cfg->reports.timezone);
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
  fprintf(out, "    write_max_attempts: %d\n", cfg->api.retry_write_max_attempts);
  fprintf(out, "    write_max_time: %s\n", DUR(cfg->api.retry_write_max_time_ms));
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
  char *masked = db_conninfo_masked(cfg->database.conninfo);
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
    fprintf(out, "%s%s", first ? "" : ", ", stream_name((int)i));
    first = 0;
  }
  fputs("]\n", out);
  fprintf(out, "  give_up_after: %s\n", DUR(cfg->archive.give_up_after_ms));
  fprintf(out, "  alarm_interval: %s\n", DUR(cfg->archive.alarm_interval_ms));
  fprintf(out, "  alarm_idle_interval: %s\n", DUR(cfg->archive.alarm_idle_interval_ms));
  fprintf(out, "  gap_settle: %s\n", DUR(cfg->archive.gap_settle_ms));
  fprintf(out, "  gap_min: %s\n", DUR(cfg->archive.gap_min_ms));
  fprintf(out, "  gap_max_attempts: %d\n", cfg->archive.gap_max_attempts);
  fprintf(out, "  max_subaccounts: %d\n", cfg->archive.max_subaccounts);
  fprintf(out, "  max_subaccount_depth: %d\n", cfg->archive.max_subaccount_depth);
  fprintf(out, "log:\n  level: %s\n  format: %s\n", log_level_name(cfg->log.level),
          cfg->log.format == LOG_FORMAT_JSON ? "json" : "text");
  fputs("metrics:\n  listen: ", out);
  print_string(out, cfg->metrics.listen);
  fprintf(out, "\n  unhealthy_after: %s\n", DUR(cfg->metrics.unhealthy_after_ms));
  if (cfg->metrics.auth_header) fprintf(out, "  auth: \"%s\"\n", LOG_MASK);
  fputs("retention:\n  positions: ", out);
  if (cfg->retention.positions_ms) fputs(DUR(cfg->retention.positions_ms), out);
  fputs("\n  alarms: ", out);
  if (cfg->retention.alarms_ms) fputs(DUR(cfg->retention.alarms_ms), out);
  fprintf(out, "\n  interval: %s\n", DUR(cfg->retention.interval_ms));
  fprintf(out, "  rejected: %s\n", DUR(cfg->retention.rejected_ms));
  fputs("reports:\n  timezone: ", out);
  print_string(out, cfg->reports.timezone);
  fputc('\n', out);
  fputs("console:\n  tiles: ", out);
  print_string(out, cfg->console.tiles);
  fputs("\n  attribution: ", out);
  print_string(out, cfg->console.attribution);
  fputs("\n", out);
  if (cfg->console.conninfo) {
    char *cm = db_conninfo_masked(cfg->console.conninfo);
    fputs("  conninfo: ", out);
    if (cm) print_string(out, cm);
    else fprintf(out, "\"%s\"", LOG_MASK);
    free(cm);
    fputs("\n", out);
  }
  fprintf(out, "cluster:\n  enabled: %s\n  lease_ttl: %s\n  instance: ",
          cfg->cluster.enabled ? "true" : "false", DUR(cfg->cluster.lease_ttl_ms));
  print_string(out, cfg->cluster.instance);
  fputc('\n', out);
#undef DUR
}
