/* The YAML loader: libyaml builds a document tree, one walk over the key table
 * (config_rows) fills config_t. Invariant: every problem is reported once with
 * FILE:LINE:COLUMN and the key's dotted path, and no secret (password, its md5) reaches
 * a message. */
#include "config/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "util/timeparse.h"

#define MAX_ERRORS 20 /* errors shown, the first ones by position */
#define MAX_KEPT 200  /* errors kept to pick those from */
#define MAX_CONFIG_BYTES (1024 * 1024)
#define MAX_SECRET_BYTES 4096
#define PATH_LEN 192 /* a key's dotted path; longer ones are cut (messages only) */
#define MAX_CHILDREN 24 /* keys of one section */

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

/* ---- messages ---- */

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
  values_shown(key, strlen(key), safe, sizeof safe);
  /* Key paths are cut to PATH_LEN on purpose: they only name a place in messages. */
  int w;
  if (parent && *parent)
    w = snprintf(out, PATH_LEN, "%s.%s", parent, safe);
  else
    w = snprintf(out, PATH_LEN, "%s", safe);
  if (w < 0) out[0] = '\0';
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
      values_expected_list(expected, sizeof expected, name, names, count);
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
               values_shown(in + start, nlen, safe, sizeof safe));
        goto fail;
      }
      memcpy(name, in + start, nlen);
      name[nlen] = '\0';
      const char *value = ld->secret ? values_env_secret(name) : values_env(name);
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
  return values_shown((const char *)v->data.scalar.value, v->data.scalar.length, out, n);
}

/* A path relative to the configuration's directory; malloc'd. */
static char *path_resolve(loader_t *ld, const char *p) {
  char *out = NULL;
  if (p[0] == '/' || !ld->base_dir) out = strdup(p);
  else if (asprintf(&out, "%s/%s", ld->base_dir, p) < 0) out = NULL;
  if (!out) ld->oom = true;
  return out;
}

/* Overwrites a secret scalar in the document so the tree freed later holds no copy. */
static void node_wipe(const yaml_node_t *v) {
  if (v && v->type == YAML_SCALAR_NODE && v->data.scalar.value)
    explicit_bzero(v->data.scalar.value, v->data.scalar.length);
}

/* ---- scalar keys and their checks (row_check_t) ---- */

static bool hook_base_url(loader_t *ld, const yaml_node_t *v, const char *path, char **sp) {
  char *s = *sp;
  size_t end = 0;
  const char *why = s ? values_url_problem(s, &end) : NULL;
  if (!s) report(ld, v, path, "missing value (expected https://host[:port])");
  else if (why) report(ld, v, path, "bad URL: %s", why); /* not quoted: it may hold credentials */
  if (!s || why) return false;
  for (size_t i = 0; s[i] != ':'; i++) s[i] = (char)(s[i] | 0x20); /* lower-case scheme */
  s[end] = '\0';
  return true;
}

static bool hook_ca_file(loader_t *ld, const yaml_node_t *v, const char *path, char **sp) {
  char *resolved = path_resolve(ld, *sp);
  if (resolved && access(resolved, R_OK) != 0) {
    char raw[80];
    report(ld, v, path, "cannot read '%s': %s", raw_shown(v, raw, sizeof raw), strerror(errno));
    free(resolved);
    resolved = NULL;
  }
  free(*sp);
  *sp = resolved;
  return resolved != NULL;
}

/* "" turns the shared store off; a relative name is relative to the file's folder. */
static bool hook_token_dir(loader_t *ld, const yaml_node_t *v, const char *path, char **sp) {
  (void)v, (void)path;
  if (!(*sp)[0]) return true;
  char *resolved = path_resolve(ld, *sp);
  free(*sp);
  *sp = resolved;
  return resolved != NULL;
}

static bool hook_listen(loader_t *ld, const yaml_node_t *v, const char *path, char **sp) {
  char raw[80];
  if (values_listen_valid(*sp)) return true;
  report(ld, v, path, "bad address '%s' (expected HOST:PORT with an IPv4 address or [IPv6], e.g. "
         "127.0.0.1:9187)", raw_shown(v, raw, sizeof raw));
  return false;
}

static bool hook_timezone(loader_t *ld, const yaml_node_t *v, const char *path, char **sp) {
  char raw[80];
  if (values_timezone_valid(*sp)) return true;
  report(ld, v, path, "bad time zone '%s' (expected an IANA name such as Europe/Berlin or UTC)",
         raw_shown(v, raw, sizeof raw));
  return false;
}

/* metrics.auth: "file:PATH" (one line "user:password": HTTP basic) or a bearer token,
 * stored as the Authorization value. */
static bool hook_auth(loader_t *ld, const yaml_node_t *v, const char *path, char **sp) {
  char *s = *sp;
  buf_t hdr = BUF_INIT;
  if (strncmp(s, "file:", 5) == 0) {
    char *resolved = path_resolve(ld, s + 5);
    if (resolved) {
      char secret[MAX_SECRET_BYTES + 1];
      char b64[4 * ((MAX_SECRET_BYTES + 2) / 3) + 1];
      size_t len = 0;
      int frc = values_secret_file_read(resolved, secret, sizeof secret, &len);
      if (frc < 0)
        report(ld, v, path, "cannot read the basic-auth file: %s", frc == -EINVAL ? "not a regular file" : strerror(-frc));
      else if (!memchr(secret, ':', len) || memchr(secret, '\n', len) || memchr(secret, '\0', len))
        report(ld, v, path, "the basic-auth file must hold one line USER:PASSWORD");
      else {
        values_base64((const unsigned char *)secret, len, b64);
        if (buf_printf(&hdr, "Basic %s", b64)) ld->oom = true;
      }
      explicit_bzero(secret, sizeof secret);
      explicit_bzero(b64, sizeof b64);
    }
    free(resolved);
  } else if (!s[0] || strpbrk(s, " \t\r\n")) {
    report(ld, v, path, "a bearer token must be one word (or write file:PATH)");
  } else if (buf_printf(&hdr, "Bearer %s", s)) {
    ld->oom = true;
  }
  values_secret_free(s);
  *sp = hdr.data ? buf_steal(&hdr) : NULL;
  return *sp != NULL;
}

/* A scalar key's value at v (NULL or null: the default stays). */
static void load_scalar(loader_t *ld, const row_t *r, const yaml_node_t *v, const char *path, void *base) {
  static const char *const expected[] = {[T_STRING] = "a string", [T_DURATION] = "a duration (e.g. 30s)",
                                         [T_INT] = "an integer", [T_BYTES] = "an integer",
                                         [T_BOOL] = "true or false"};
  char *s = NULL, raw[80], why[768];
  ld->secret = (r->flags & K_SECRET) != 0;
  int rc = scalar_get(ld, v, path, r->expected ? r->expected : expected[r->type], &s);
  ld->secret = false;
  if (rc > 0 && r->type != T_STRING && values_convert(r, s, raw_shown(v, raw, sizeof raw), base, why, sizeof why))
    report(ld, v, path, "%s", why);
  if (r->type == T_STRING && (rc > 0 || (rc == 0 && (r->flags & K_REQUIRED)))) {
    static bool (*const hooks[CHECK_COUNT])(loader_t *, const yaml_node_t *, const char *, char **) = {
      [CHECK_URL] = hook_base_url, [CHECK_CA_FILE] = hook_ca_file, [CHECK_TOKEN_DIR] = hook_token_dir,
      [CHECK_LISTEN] = hook_listen, [CHECK_AUTH] = hook_auth,       [CHECK_TIMEZONE] = hook_timezone,
    };
    if (!r->check || hooks[r->check](ld, v, path, &s)) {
      values_secret_free(*ROW_FIELD(base, r, char *));
      *ROW_FIELD(base, r, char *) = s;
      s = NULL;
    }
  }
  values_secret_free(s);
  if (r->flags & K_SECRET) node_wipe(v);
}

/* ---- api.rate_limits ---- */

/* A mapping keyed by `default` and the endpoints of domain/endpoint.h: configured key,
 * else built-in, else default. r holds the range and the default's default. */
static void load_rates(loader_t *ld, const row_t *r, const yaml_node_t *map, const char *path) {
  const char *names[API_EP_COUNT + 1];
  const yaml_node_t *values[API_EP_COUNT + 1], *keys[API_EP_COUNT + 1];
  names[0] = "default";
  for (int i = 0; i < API_EP_COUNT; i++) names[i + 1] = api_endpoint_key((api_endpoint_t)i);
  if (!section_open(ld, map, path, names, API_EP_COUNT + 1, values, keys)) return;
  char kpath[PATH_LEN];
  config_t *cfg = ld->cfg;
  row_t key = {.type = T_DURATION, .off = offsetof(config_t, api.rate_limit_default_ms), .min = r->min, .max = r->max};
  path_join(kpath, path, "default");
  load_scalar(ld, &key, values[0], kpath, cfg);
  values_rates_resolve(cfg);
  for (int i = 0; i < API_EP_COUNT; i++) {
    key.off = offsetof(config_t, api.rate_limit_ms) + (size_t)i * sizeof cfg->api.rate_limit_ms[0];
    path_join(kpath, path, names[i + 1]);
    load_scalar(ld, &key, values[i + 1], kpath, cfg);
  }
}

/* ---- archive.streams ---- */

/* A list of stream names (domain/stream.h), each once, at least one. */
static void load_streams(loader_t *ld, const row_t *r, const yaml_node_t *list, const char *path) {
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
    int found = stream_find(s);
    unsigned bit = found < 0 ? 0 : STREAM_BIT(found);
    if (!bit) {
      char expected[256], raw[80];
      {
        const char *names[STREAM_COUNT];
        for (int k = 0; k < STREAM_COUNT; k++) names[k] = stream_name(k);
        values_expected_list(expected, sizeof expected, s, names, STREAM_COUNT);
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
    *ROW_FIELD(ld->cfg, r, unsigned) = streams;
}

/* ---- accounts ---- */

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
    int frc = values_secret_file_read(resolved, secret, sizeof secret, &len);
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
    else if (md5_hex(secret, len, acc->password_md5) != 0)
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
  enum { ACCOUNT, PASSWORD, PASSWORD_MD5, PASSWORD_FILE, SUBACCOUNTS, N }; /* account_rows */
  const char *names[N];
  const yaml_node_t *v[N], *k[N];
  char path[PATH_LEN], kpath[PATH_LEN];
  for (int i = 0; i < N; i++) names[i] = account_rows[i].path;
  snprintf(path, sizeof path, "accounts[%zu]", index);
  if (values_defaults_apply(account_rows, account_n_rows, acc) != 0) {
    ld->oom = true;
    return;
  }
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
               values_shown(acc->account, strlen(acc->account), safe, sizeof safe), j);
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
    else if (rc > 0 && md5_hex(pw, strlen(pw), acc->password_md5) != 0)
      report(ld, v[PASSWORD], kpath, "cannot compute the md5 of the password");
    values_secret_free(pw);
  } else if (v[PASSWORD_MD5]) {
    path_join(kpath, path, "password_md5");
    char *md5 = NULL;
    ld->secret = true;
    defer_begin(ld, acc);
    rc = scalar_get(ld, v[PASSWORD_MD5], kpath, "32 hex digits", &md5);
    defer_end(ld);
    ld->secret = false;
    if (rc >= 0 && (!md5 || !md5_is_hex(md5))) {
      report(ld, v[PASSWORD_MD5], kpath, "not 32 hex digits (the md5 of the password)");
    } else if (rc > 0) {
      for (int i = 0; i < MD5_HEX_LEN; i++) acc->password_md5[i] = (char)(md5[i] | 0x20);
      acc->password_md5[MD5_HEX_LEN] = '\0';
    }
    values_secret_free(md5);
  } else {
    path_join(kpath, path, "password_file");
    load_password_file(ld, v[PASSWORD_FILE], kpath, acc);
  }
  node_wipe(v[PASSWORD]);
  node_wipe(v[PASSWORD_MD5]);
  path_join(kpath, path, "subaccounts");
  load_scalar(ld, &account_rows[SUBACCOUNTS], v[SUBACCOUNTS], kpath, acc);
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

/* ---- the walk ---- */

/* A key directly under a section: a row, or a section of its own (row NULL). */
typedef struct child {
  char name[40];
  const row_t *row;      /* the key's row; NULL for a section */
  const row_t *required; /* a K_REQUIRED row at or under it, or NULL */
} child_t;

/* The keys directly under prefix ("" for the top), in table order. */
static size_t children(const char *prefix, child_t *out) {
  size_t plen = strlen(prefix), n = 0;
  for (size_t i = 0; i < config_n_rows; i++) {
    const row_t *r = &config_rows[i];
    const char *rest = r->path;
    if (plen) {
      if (strncmp(rest, prefix, plen) != 0 || rest[plen] != '.') continue;
      rest += plen + 1;
    }
    size_t len = strcspn(rest, ".");
    if (!n || strlen(out[n - 1].name) != len || strncmp(out[n - 1].name, rest, len) != 0) {
      if (n == MAX_CHILDREN || len >= sizeof out[n].name) abort(); /* the table outgrew us */
      out[n] = (child_t){.row = rest[len] ? NULL : r};
      memcpy(out[n].name, rest, len);
      n++;
    }
    if ((r->flags & K_REQUIRED) && !out[n - 1].required) out[n - 1].required = r;
  }
  return n;
}

/* The value node of the key named name among a section's keys, or NULL. */
static const yaml_node_t *named(const child_t *ch, const yaml_node_t *const *v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(ch[i].name, name)) return v[i];
  return NULL;
}

/* What ties keys of one section together, checked once it is read. */
static void section_check(loader_t *ld, const char *prefix, const yaml_node_t *map, const child_t *ch,
                          const yaml_node_t *const *v, size_t n) {
  const config_t *cfg = ld->cfg;
  if (!strcmp(prefix, "api.retry") && cfg->api.retry_max_delay_ms < cfg->api.retry_base_delay_ms) {
    const yaml_node_t *max = named(ch, v, n, "max_delay"), *base = named(ch, v, n, "base_delay");
    report(ld, max ? max : base ? base : map, max ? "api.retry.max_delay" : "api.retry.base_delay",
           "max_delay must not be shorter than base_delay");
  }
  if (!strcmp(prefix, "database") && cfg->database.queue_rows < cfg->database.batch_rows) {
    const yaml_node_t *queue = named(ch, v, n, "queue_rows"), *batch = named(ch, v, n, "batch_rows");
    report(ld, queue ? queue : batch, queue ? "database.queue_rows" : "database.batch_rows",
           "queue_rows (%d) must be at least batch_rows (%d)", cfg->database.queue_rows,
           cfg->database.batch_rows);
  }
}

/* The section at map (NULL or null: all defaults) with the keys of the table under
 * prefix: unknown, duplicate and missing required keys reported, each key read. */
static void load_section(loader_t *ld, const yaml_node_t *map, const char *prefix) {
  child_t ch[MAX_CHILDREN];
  size_t n = children(prefix, ch);
  const char *names[MAX_CHILDREN];
  const yaml_node_t *v[MAX_CHILDREN], *k[MAX_CHILDREN];
  for (size_t i = 0; i < n; i++) names[i] = ch[i].name;
  if (!section_open(ld, map, prefix, names, n, v, k)) return;
  for (size_t i = 0; i < n; i++) {
    char path[PATH_LEN];
    path_join(path, prefix, ch[i].name);
    const row_t *r = ch[i].row;
    if (!v[i] && ch[i].required) {
      if (r) {
        report(ld, map, path, "%s", r->required);
      } else { /* "required key is missing (api: base_url: ...)" */
        char example[PATH_LEN * 2];
        size_t o = 0;
        for (const char *p = ch[i].required->path; *p && o + 3 < sizeof example; p++) {
          if (*p == '.') example[o++] = ':', example[o++] = ' ';
          else example[o++] = *p;
        }
        example[o] = '\0';
        report(ld, map, path, "required key is missing (%s: ...)", example);
      }
    } else if (!v[i]) {
      continue; /* the default stays */
    } else if (!r) {
      load_section(ld, v[i], path);
    } else if (r->type == T_RATES) {
      load_rates(ld, r, v[i], path);
    } else if (r->type == T_STREAMS) {
      load_streams(ld, r, v[i], path);
    } else if (r->type == T_ACCOUNTS) {
      load_accounts(ld, v[i], map);
    } else {
      load_scalar(ld, r, v[i], path, ld->cfg);
    }
  }
  section_check(ld, prefix, map, ch, v, n);
}

/* ---- entry points ---- */

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
  if (!ld.cfg || values_defaults(ld.cfg) != 0 || !(ld.cfg->source = strdup(name))) {
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

  if (root->type != YAML_MAPPING_NODE) {
    report(&ld, root, NULL, "the configuration must be a mapping (api:, accounts:, ...), got %s", kind_name(root));
    goto out;
  }
  load_section(&ld, root, "");

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

