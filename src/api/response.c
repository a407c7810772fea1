/* Response parsers: the body (not NUL-terminated) goes through cJSON once, the envelope
 * is checked, and the tree is copied into the caller's plain structs with every type,
 * range and encoding checked. The only file of the codec that sees cJSON; no tree
 * leaves it. */
#include "api/internal.h"
#include "util/grow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Integers travel as doubles in cJSON: above 2^53 they are no longer exact. */
#define JSON_INT_MAX INT64_C(9007199254740991)

/* cJSON's nodes and strings of one parse come from an arena, released at once when the
 * document closes: a /api/track answer of 100 records is ~2,000 nodes and as many key
 * strings, and malloc/free of each took about a fifth of the CPU of a 100k-device poll
 * cycle (perf, bench/RESULTS.md). cJSON's hooks are global: they point at the arena only
 * for the duration of cJSON_ParseWithLengthOpts (fleetarc is one thread; the console's
 * cJSON trees are built and freed with malloc outside of it), and a tree of the arena is
 * never given to cJSON_Delete (doc_close resets the arena instead). One document is open
 * at a time in this file; the arena keeps one chunk of at most ARENA_KEEP between
 * parses. */
#define ARENA_CHUNK ((size_t)64 * 1024)
#define ARENA_KEEP ((size_t)1024 * 1024)

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t size, used;
  max_align_t data[];
} arena_chunk_t;

static arena_chunk_t *arena_head;

static void *arena_alloc(size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  arena_chunk_t *c = arena_head;
  if (!c || c->size - c->used < n) {
    size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    if (c && c->size * 2 > size && c->size * 2 <= ARENA_KEEP) size = c->size * 2;
    c = malloc(sizeof *c + size);
    if (!c) return NULL;
    *c = (arena_chunk_t){.next = arena_head, .size = size};
    arena_head = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

static void arena_free(void *p) { (void)p; /* released with the arena */ }

/* Every node of the last parse is gone; the newest (largest) chunk stays for the next. */
static void arena_reset(void) {
  arena_chunk_t *keep = arena_head;
  if (!keep) return;
  for (arena_chunk_t *c = keep->next, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  if (keep->size > ARENA_KEEP) {
    free(keep);
    arena_head = NULL;
    return;
  }
  keep->next = NULL;
  keep->used = 0;
}

static cJSON *arena_parse(const char *s, size_t len, const char **end) {
  cJSON_Hooks hooks = {.malloc_fn = arena_alloc, .free_fn = arena_free};
  cJSON_InitHooks(&hooks);
  cJSON *root = cJSON_ParseWithLengthOpts(s, len, end, 0);
  cJSON_InitHooks(NULL); /* malloc and free again for every other use of cJSON */
  return root;
}

typedef struct {
  cJSON *root;
  const cJSON *record; /* borrowed from root; NULL when absent or null, or no data */
  bool no_data;        /* the body says "no data" (no_data_answer()): record is NULL */
} doc_t;

/* The endpoints whose answer can be "nothing": a time range with no record (2.3, 2.8),
 * an account with no devices or no sub-accounts (2.7, 2.15), IMEIs with nothing to
 * report (2.2, 2.14). API_EP_COUNT (no endpoint): none. */
static bool no_data_endpoint(api_endpoint_t ep) {
  switch (ep) {
    case API_EP_TRACK:
    case API_EP_PLAYBACK:
    case API_EP_ALARM_LIST:
    case API_EP_DEVICE_LIST:
    case API_EP_USER_LIST:
    case API_EP_DEVICE_MILEAGE:
      return true;
    default:
      return false;
  }
}

/* THE decision of "no data", for every caller of the codec (net/client.c classifies
 * answers by it, through api_check_response or the err->envelope of the caller's parser;
 * the archiver and the CLI read it as the parsers' empty results): nothing else in
 * fleetarc tells an empty answer from a full one.
 *
 * Why so many forms. The spec (chapter 3) lists 20023 "No Data." and its record shapes
 * (a string for 2.3/2.8, an array for 2.2/2.7/2.14/2.15), whose empty values are "" and
 * []. Real hosts of this API also answer "nothing in that window" as {"code":0} with the
 * record missing, null, "" or [] whatever its shape: a production client of the API
 * treats all of them, and 20023, as an empty window (spec/NOTES.md, "From a production
 * client"; NOTES also: 20023 is an empty page, not a failure). Taking {"code":0} without
 * a record as an error made a backfill retry every empty alarm window for ever. So for
 * the endpoints of no_data_endpoint(), each of these is "no data", one outcome: 20023;
 * code 0 with record absent, null, "" or []. Anything else (an object record, a number,
 * a string record for an array endpoint that is not "") stays the error it was; other
 * endpoints (a login, a user's info, a command) have no "nothing" answer at all. */
static bool no_data_answer(api_endpoint_t ep, int64_t code, const cJSON *record) {
  if (!no_data_endpoint(ep)) return false;
  if (code == API_CODE_NO_DATA) return true;
  if (code != 0) return false;
  if (!record || cJSON_IsNull(record)) return true;
  if (cJSON_IsString(record)) return record->valuestring && record->valuestring[0] == '\0';
  return cJSON_IsArray(record) && !record->child;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const char *type_name(const cJSON *v) {
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  if (cJSON_IsNull(v)) return "null";
  return "an invalid value";
}

/* "record[3]" + "gpstime" -> "record[3].gpstime" */
static void path_join(char *out, size_t size, const char *prefix, const char *key) {
  snprintf(out, size, "%s%s%s", prefix, prefix[0] ? "." : "", key);
}

/* An error about the field prefix.key: "record[3].gpstime: " and fmt's text. The path is
 * formatted only when there is an error: joined for every field read, it took about a
 * tenth of the CPU of a 100k-device /api/track poll (perf, bench/RESULTS.md). */
__attribute__((format(printf, 5, 6))) static int field_error(api_error_t *err,
                                                             api_error_kind_t kind,
                                                             const char *prefix,
                                                             const char *key, const char *fmt,
                                                             ...) {
  char path[96], text[200];
  path_join(path, sizeof path, prefix, key);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  return api_error_set(err, kind, 0, "%s: %s", path, text);
}

/* An HTML error page (proxy, load balancer): its <title> tells what happened. */
static int html_error(const char *s, size_t len, api_error_t *err) {
  size_t scan = len < 65536 ? len : 65536;
  for (size_t i = 0; i + 7 <= scan; i++) {
    if (strncasecmp(s + i, "<title", 6) != 0) continue;
    const char *gt = memchr(s + i, '>', scan - i);
    if (!gt) break;
    const char *t = gt + 1, *end = s + scan;
    const char *lt = memchr(t, '<', (size_t)(end - t));
    if (!lt) lt = end;
    while (t < lt && is_ws(*t)) t++;
    while (lt > t && is_ws(lt[-1])) lt--;
    char title[84];
    api_text_excerpt(t, (size_t)(lt - t), 80, title);
    return api_error_set(err, API_ERR_HTML, 0, "HTML page instead of JSON: \"%s\"", title);
  }
  return api_error_set(err, API_ERR_HTML, 0, "HTML page instead of JSON (no title)");
}

/* A JSON syntax scanner run only after cJSON failed, because cJSON's error position is
 * approximate (the start of an unterminated string, one past a bad key): it finds the
 * exact byte of the fault, and tells a body that merely ends too early (a valid JSON
 * prefix: truncated) from one that is wrong. */
enum { SCAN_OK, SCAN_EOF, SCAN_BAD };
#define SCAN_MAX_DEPTH 1000 /* cJSON's own nesting limit */

typedef struct {
  const char *s;
  size_t len, pos;
  int depth;
} scan_t;

static void scan_ws(scan_t *c) {
  while (c->pos < c->len && is_ws(c->s[c->pos])) c->pos++;
}

static int scan_string(scan_t *c) {
  c->pos++; /* the opening quote */
  while (c->pos < c->len) {
    unsigned char ch = (unsigned char)c->s[c->pos];
    if (ch == '"') {
      c->pos++;
      return SCAN_OK;
    }
    if (ch < 0x20) return SCAN_BAD;
    if (ch != '\\') {
      c->pos++;
      continue;
    }
    if (++c->pos >= c->len) return SCAN_EOF;
    ch = (unsigned char)c->s[c->pos];
    if (ch == 'u') {
      for (int k = 0; k < 4; k++) {
        if (++c->pos >= c->len) return SCAN_EOF;
        ch = (unsigned char)c->s[c->pos];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
          return SCAN_BAD;
      }
    } else if (!strchr("\"\\/bfnrt", ch) || ch == 0) {
      return SCAN_BAD;
    }
    c->pos++;
  }
  return SCAN_EOF;
}

static int scan_digits(scan_t *c) {
  if (c->pos >= c->len) return SCAN_EOF;
  if (c->s[c->pos] < '0' || c->s[c->pos] > '9') return SCAN_BAD;
  while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') c->pos++;
  return SCAN_OK;
}

static int scan_number(scan_t *c) {
  if (c->s[c->pos] == '-') c->pos++;
  if (c->pos >= c->len) return SCAN_EOF;
  int rc;
  if (c->s[c->pos] == '0') c->pos++;
  else if ((rc = scan_digits(c)) != SCAN_OK) return rc;
  if (c->pos < c->len && c->s[c->pos] == '.') {
    c->pos++;
    if ((rc = scan_digits(c)) != SCAN_OK) return rc;
  }
  if (c->pos < c->len && (c->s[c->pos] == 'e' || c->s[c->pos] == 'E')) {
    c->pos++;
    if (c->pos < c->len && (c->s[c->pos] == '+' || c->s[c->pos] == '-')) c->pos++;
    if ((rc = scan_digits(c)) != SCAN_OK) return rc;
  }
  return SCAN_OK;
}

static int scan_literal(scan_t *c, const char *word) {
  for (; *word; word++, c->pos++) {
    if (c->pos >= c->len) return SCAN_EOF;
    if (c->s[c->pos] != *word) return SCAN_BAD;
  }
  return SCAN_OK;
}

static int scan_value(scan_t *c);

/* An object or array; close is '}' or ']'. */
static int scan_container(scan_t *c, char close) {
  if (++c->depth > SCAN_MAX_DEPTH) return SCAN_BAD;
  c->pos++;
  scan_ws(c);
  if (c->pos >= c->len) return SCAN_EOF;
  if (c->s[c->pos] == close) {
    c->pos++;
    c->depth--;
    return SCAN_OK;
  }
  for (;;) {
    int rc;
    if (close == '}') {
      if (c->s[c->pos] != '"') return SCAN_BAD;
      if ((rc = scan_string(c)) != SCAN_OK) return rc;
      scan_ws(c);
      if (c->pos >= c->len) return SCAN_EOF;
      if (c->s[c->pos] != ':') return SCAN_BAD;
      c->pos++;
    }
    if ((rc = scan_value(c)) != SCAN_OK) return rc;
    scan_ws(c);
    if (c->pos >= c->len) return SCAN_EOF;
    if (c->s[c->pos] == close) {
      c->pos++;
      c->depth--;
      return SCAN_OK;
    }
    if (c->s[c->pos] != ',') return SCAN_BAD;
    c->pos++;
    scan_ws(c);
    if (c->pos >= c->len) return SCAN_EOF;
  }
}

static int scan_value(scan_t *c) {
  scan_ws(c);
  if (c->pos >= c->len) return SCAN_EOF;
  char ch = c->s[c->pos];
  if (ch == '{') return scan_container(c, '}');
  if (ch == '[') return scan_container(c, ']');
  if (ch == '"') return scan_string(c);
  if (ch == '-' || (ch >= '0' && ch <= '9')) return scan_number(c);
  if (ch == 't') return scan_literal(c, "true");
  if (ch == 'f') return scan_literal(c, "false");
  if (ch == 'n') return scan_literal(c, "null");
  return SCAN_BAD;
}

/* SCAN_EOF (truncated) or SCAN_BAD with *pos the offending byte; SCAN_OK when the
 * scanner finds nothing wrong (then cJSON's own position is all there is). */
static int json_fault(const char *s, size_t len, size_t start, size_t *pos) {
  scan_t c = {s, len, start, 0};
  int rc = scan_value(&c);
  if (rc == SCAN_OK) {
    scan_ws(&c);
    if (c.pos < len) rc = SCAN_BAD;
  }
  *pos = c.pos;
  return rc;
}

static void line_col(const char *s, size_t pos, size_t *line, size_t *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < pos; i++) {
    if (s[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

static int get_int(const cJSON *obj, const char *prefix, const char *key, bool required,
                   int64_t min, int64_t max, int64_t *out, api_error_t *err);

static int doc_parse(const char *body, size_t len, api_endpoint_t ep, doc_t *d,
                     api_error_t *err);

/* Parses the body (an answer of ep, or API_EP_COUNT: any) and checks the envelope, whose
 * verdict also goes to err->envelope. On success d->root must be freed; d->no_data tells
 * "no data" (then d->record is NULL). */
static int doc_open(const char *body, size_t len, api_endpoint_t ep, doc_t *d,
                    api_error_t *err) {
  api_error_clear(err);
  d->root = NULL;
  d->record = NULL;
  d->no_data = false;
  int rc = doc_parse(body, len, ep, d, err);
  if (err) err->envelope = rc ? rc : d->no_data ? API_NO_DATA : 0;
  return rc;
}

static int doc_parse(const char *body, size_t len, api_endpoint_t ep, doc_t *d,
                     api_error_t *err) {
  size_t off = 0;
  if (!body) len = 0;
  if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) off = 3; /* a UTF-8 BOM */
  while (off < len && is_ws(body[off])) off++;
  if (off == len) return api_error_set(err, API_ERR_EMPTY, 0, "empty body (%zu bytes)", len);
  if (body[off] == '<') return html_error(body + off, len - off, err);
  const char *end = NULL;
  d->root = arena_parse(body + off, len - off, &end);
  if (!d->root) {
    arena_reset();
    size_t pos = end && end >= body + off && end <= body + len ? (size_t)(end - body) : off;
    int fault = json_fault(body, len, off, &pos);
    if (fault == SCAN_EOF)
      return api_error_set(err, API_ERR_TRUNCATED, len,
                           "truncated JSON: the body ends at byte %zu inside a value", len);
    size_t line, col;
    line_col(body, pos, &line, &col);
    return api_error_set(err, API_ERR_SYNTAX, pos,
                         "malformed JSON at byte offset %zu (line %zu, column %zu)", pos,
                         line, col);
  }
  int rc;
  size_t rest = (size_t)(end - body);
  while (rest < len && is_ws(body[rest])) rest++;
  if (rest < len) {
    rc = api_error_set(err, API_ERR_SYNTAX, rest,
                       "malformed JSON: unexpected data after the value at byte offset %zu",
                       rest);
    goto fail;
  }
  if (!cJSON_IsObject(d->root)) {
    rc = api_error_set(err, API_ERR_TYPE, 0, "top level: expected an object, got %s",
                       type_name(d->root));
    goto fail;
  }
  int64_t code;
  rc = get_int(d->root, "", "code", true, INT32_MIN, INT32_MAX, &code, err);
  if (rc) goto fail;
  const cJSON *record = cJSON_GetObjectItemCaseSensitive(d->root, "record");
  if (no_data_answer(ep, code, record)) {
    d->no_data = true;
    return 0;
  }
  if (code != 0) {
    const char *text = api_code_text((int)code);
    rc = api_error_set(err, API_ERR_SERVER, 0, "API error %d: %s", (int)code,
                       text ? text : "unknown code");
    if (err) err->code = (int)code;
    goto fail;
  }
  d->record = cJSON_IsNull(record) ? NULL : record;
  return 0;
fail:
  arena_reset();
  d->root = NULL;
  return rc;
}

static void doc_close(doc_t *d) {
  if (d->root) arena_reset(); /* the tree is the arena's: never cJSON_Delete */
  d->root = NULL;
}

/* The getters come in two forms: get_x(obj, ..., key) looks key up in obj, x_value(v,
 * ..., key) takes the member found already (a record's members found in one pass,
 * members_find) and uses key for messages only. */

/* The member v of key, or NULL (with 0) when absent or null and not required. */
static int item_value(const cJSON *v, const char *prefix, const char *key, bool required,
                      const cJSON **out, api_error_t *err) {
  if (cJSON_IsNull(v)) v = NULL;
  *out = v;
  if (!v && required) return field_error(err, API_ERR_MISSING, prefix, key, "missing");
  return 0;
}

/* Numbers only (a numeric string is a type error), integral, within [min, max]. Absent
 * and optional: API_UNKNOWN. */
static int int_value(const cJSON *member, const char *prefix, const char *key, bool required,
                     int64_t min, int64_t max, int64_t *out, api_error_t *err) {
  const cJSON *v;
  int rc = item_value(member, prefix, key, required, &v, err);
  if (rc) return rc;
  *out = API_UNKNOWN;
  if (!v) return 0;
  if (!cJSON_IsNumber(v))
    return field_error(err, API_ERR_TYPE, prefix, key, "expected an integer, got %s",
                       type_name(v));
  double d = v->valuedouble;
  if (!isfinite(d) || d != floor(d))
    return field_error(err, API_ERR_RANGE, prefix, key, "%.17g is not an integer", d);
  if (d < (double)min || d > (double)max)
    return field_error(err, API_ERR_RANGE, prefix, key, "%.17g is outside %" PRId64 "..%" PRId64,
                       d, min, max);
  *out = (int64_t)d;
  return 0;
}

static int i32_value(const cJSON *member, const char *prefix, const char *key, bool required,
                     int32_t min, int32_t max, int32_t *out, api_error_t *err) {
  int64_t v;
  int rc = int_value(member, prefix, key, required, min, max, &v, err);
  if (!rc) *out = (int32_t)v;
  return rc;
}

/* A time: seconds >= 0, or API_UNKNOWN. */
static int time_value(const cJSON *member, const char *prefix, const char *key, bool required,
                      int64_t *out, api_error_t *err) {
  return int_value(member, prefix, key, required, API_UNKNOWN, JSON_INT_MAX, out, err);
}

static int double_value(const cJSON *member, const char *prefix, const char *key, double min,
                        double max, double *out, api_error_t *err) {
  const cJSON *v;
  int rc = item_value(member, prefix, key, true, &v, err);
  if (rc) return rc;
  if (!cJSON_IsNumber(v))
    return field_error(err, API_ERR_TYPE, prefix, key, "expected a number, got %s",
                       type_name(v));
  double d = v->valuedouble;
  if (!(d >= min && d <= max))
    return field_error(err, API_ERR_RANGE, prefix, key, "%.17g is outside %g..%g", d, min, max);
  *out = d;
  return 0;
}

/* A UTF-8 string; absent and optional: "" . Its value never goes into a message. */
static int string_value(const cJSON *member, const char *prefix, const char *key,
                        bool required, const char **out, size_t *len, api_error_t *err) {
  const cJSON *v;
  int rc = item_value(member, prefix, key, required, &v, err);
  if (rc) return rc;
  *out = "";
  *len = 0;
  if (!v) return 0;
  if (!cJSON_IsString(v) || !v->valuestring)
    return field_error(err, API_ERR_TYPE, prefix, key, "expected a string, got %s",
                       type_name(v));
  size_t n = strlen(v->valuestring);
  if (!api_utf8_valid(v->valuestring, n, NULL))
    return field_error(err, API_ERR_UTF8, prefix, key, "not valid UTF-8");
  if (required && n == 0) return field_error(err, API_ERR_MISSING, prefix, key, "empty");
  *out = v->valuestring;
  *len = n;
  return 0;
}

/* A string of 1..API_IMEI_MAX digits (never a number: leading zeros matter). */
static int imei_value(const cJSON *member, const char *prefix, char out[API_IMEI_MAX + 1],
                      api_error_t *err) {
  const char *s = NULL;
  size_t n = 0;
  int rc = string_value(member, prefix, "imei", true, &s, &n, err);
  if (rc) return rc;
  bool digits = n <= API_IMEI_MAX;
  for (size_t i = 0; digits && i < n; i++) digits = s[i] >= '0' && s[i] <= '9';
  if (!digits) {
    char path[96];
    path_join(path, sizeof path, prefix, "imei");
    return api_error_set(err, API_ERR_RANGE, 0, "%s: not 1..%d decimal digits", path,
                         API_IMEI_MAX);
  }
  memcpy(out, s, n + 1);
  return 0;
}

#define MEMBER(obj, key) cJSON_GetObjectItemCaseSensitive(obj, key)

static int get_int(const cJSON *obj, const char *prefix, const char *key, bool required,
                   int64_t min, int64_t max, int64_t *out, api_error_t *err) {
  return int_value(MEMBER(obj, key), prefix, key, required, min, max, out, err);
}

static int get_i32(const cJSON *obj, const char *prefix, const char *key, bool required,
                   int32_t min, int32_t max, int32_t *out, api_error_t *err) {
  return i32_value(MEMBER(obj, key), prefix, key, required, min, max, out, err);
}

static int get_time(const cJSON *obj, const char *prefix, const char *key, bool required,
                    int64_t *out, api_error_t *err) {
  return time_value(MEMBER(obj, key), prefix, key, required, out, err);
}

static int get_double(const cJSON *obj, const char *prefix, const char *key, double min,
                      double max, double *out, api_error_t *err) {
  return double_value(MEMBER(obj, key), prefix, key, min, max, out, err);
}

static int get_string(const cJSON *obj, const char *prefix, const char *key, bool required,
                      const char **out, size_t *len, api_error_t *err) {
  return string_value(MEMBER(obj, key), prefix, key, required, out, len, err);
}

static int get_imei(const cJSON *obj, const char *prefix, char out[API_IMEI_MAX + 1],
                    api_error_t *err) {
  return imei_value(MEMBER(obj, "imei"), prefix, out, err);
}

/* The members of obj named names[0..n), in one pass over obj: found[k] is the first
 * member named names[k] (as cJSON_GetObjectItemCaseSensitive finds it), or NULL. Hosts
 * send a record's fields in one order, so the name after the last one found is tried
 * first: about one strcmp a member instead of a walk from the first member per field
 * (~14% of a 100k-device poll cycle's CPU in strcmp, bench/RESULTS.md). */
static void members_find(const cJSON *obj, const char *const names[], size_t n,
                         const cJSON *found[]) {
  for (size_t k = 0; k < n; k++) found[k] = NULL;
  size_t next = 0;
  for (const cJSON *m = obj->child; m; m = m->next) {
    if (!m->string) continue;
    size_t k = next;
    if (k >= n || found[k] || strcmp(m->string, names[k]) != 0) {
      for (k = 0; k < n; k++)
        if (!found[k] && strcmp(m->string, names[k]) == 0) break;
      if (k == n) continue; /* unknown, or a later duplicate: the first one counts */
    }
    found[k] = m;
    next = k + 1;
  }
}

/* record must be of this cJSON type. */
static int need_record(const doc_t *d, bool array, api_error_t *err) {
  if (!d->record) return api_error_set(err, API_ERR_MISSING, 0, "record: missing");
  if (array ? !cJSON_IsArray(d->record) : !cJSON_IsObject(d->record))
    return api_error_set(err, API_ERR_TYPE, 0, "record: expected %s, got %s",
                         array ? "an array" : "an object", type_name(d->record));
  return 0;
}

/* "record[i]" (by hand: snprintf once per record showed in the poll's profile) after
 * checking that the element is an object. size >= 32. */
static int element(const cJSON *el, size_t i, char *prefix, size_t size, api_error_t *err) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + i % 10);
    i /= 10;
  } while (i && n < sizeof digits);
  char *p = prefix;
  memcpy(p, "record[", 7);
  p += 7;
  while (n && (size_t)(p - prefix) < size - 2) *p++ = digits[--n];
  *p++ = ']';
  *p = '\0';
  if (!cJSON_IsObject(el))
    return api_error_set(err, API_ERR_TYPE, 0, "%s: expected an object, got %s", prefix,
                         type_name(el));
  return 0;
}

/* Opens body, whose record must be an object; on success d is open: doc_close it. */
static int open_object_record(const char *body, size_t len, doc_t *d, api_error_t *err) {
  int rc = doc_open(body, len, API_EP_COUNT, d, err);
  if (rc) return rc;
  rc = need_record(d, false, err);
  if (rc) doc_close(d);
  return rc;
}

/* Lenient parsing: element i failed with e; the record's field from the error's path
 * ("record[3].course: ..." -> "course"), its IMEI when it has a valid one. */
static void reject_element(api_rejects_t *rej, size_t i, const cJSON *el, const api_error_t *e) {
  char field[24] = "record";
  const char *dot = strstr(e->message, "].");
  if (dot) {
    dot += 2;
    size_t n = strcspn(dot, ":.[");
    snprintf(field, sizeof field, "%.*s", (int)n, dot);
  }
  char imei[API_IMEI_MAX + 1] = "";
  const cJSON *v = cJSON_IsObject(el) ? cJSON_GetObjectItemCaseSensitive(el, "imei") : NULL;
  if (cJSON_IsString(v) && v->valuestring) {
    size_t n = strlen(v->valuestring);
    bool ok = n > 0 && n <= API_IMEI_MAX;
    for (size_t k = 0; ok && k < n; k++) ok = v->valuestring[k] >= '0' && v->valuestring[k] <= '9';
    if (ok) memcpy(imei, v->valuestring, n + 1);
  }
  api_rejects_add(rej, i, imei, field, e->message);
}

/* One element of an array record, checked and stored in item. */
typedef int (*item_fn)(const cJSON *o, const char *prefix, void *item, api_error_t *err);

/* An array record of ep into a reused items[] of item_size bytes each (grown, never
 * shrunk); *n is the count, 0 on failure and for "no data". rej (lenient parsers): a bad
 * element is skipped and described there instead of failing the answer. */
static int parse_array(api_endpoint_t ep, const char *body, size_t len, void **items,
                       size_t *cap, size_t *n, size_t item_size, item_fn one,
                       api_rejects_t *rej, api_error_t *err) {
  *n = 0;
  doc_t d;
  int rc = doc_open(body, len, ep, &d, err);
  if (rc) return rc;
  if (d.no_data) goto out;
  rc = need_record(&d, true, err);
  if (rc) goto out;
  rc = grow_array(items, cap, (size_t)cJSON_GetArraySize(d.record), item_size);
  if (rc) goto out;
  const cJSON *el;
  size_t i = 0, index = 0;
  cJSON_ArrayForEach(el, d.record) {
    char prefix[32];
    api_error_t e1;
    api_error_t *e = rej ? &e1 : err;
    rc = element(el, index, prefix, sizeof prefix, e);
    if (!rc) rc = one(el, prefix, (char *)*items + i * item_size, e);
    index++;
    if (rc && rej && rc != -ENOMEM) {
      reject_element(rej, index - 1, el, e);
      rc = 0;
      continue;
    }
    if (rc) goto out;
    i++;
  }
  *n = i;
out:
  doc_close(&d);
  return rc;
}

/* ------------------------------------------------------------ envelope, 2.1 */

int api_parse_envelope(const char *body, size_t len, api_error_t *err) {
  doc_t d;
  int rc = doc_open(body, len, API_EP_COUNT, &d, err);
  if (!rc) doc_close(&d);
  return rc;
}

int api_check_response(api_endpoint_t ep, const char *body, size_t len, api_error_t *err) {
  doc_t d;
  int rc = doc_open(body, len, ep, &d, err);
  if (rc) return rc;
  rc = d.no_data ? API_NO_DATA : 0;
  doc_close(&d);
  return rc;
}

void api_auth_free(api_auth_t *a) {
  if (!a) return;
  if (a->access_token) {
    explicit_bzero(a->access_token, strlen(a->access_token));
    free(a->access_token);
  }
  *a = (api_auth_t){0};
}

int api_parse_authorization(const char *body, size_t len, api_auth_t *out,
                            api_error_t *err) {
  api_auth_free(out);
  doc_t d;
  int rc = open_object_record(body, len, &d, err);
  if (rc) return rc;
  const char *token = NULL;
  size_t n = 0;
  int64_t expires;
  rc = get_string(d.record, "record", "access_token", true, &token, &n, err);
  if (!rc) rc = get_int(d.record, "record", "expires_in", true, 1, INT32_MAX, &expires, err);
  if (rc) goto out;
  out->access_token = strdup(token);
  if (!out->access_token) {
    rc = -ENOMEM;
    goto out;
  }
  out->expires_in = expires;
out:
  if (token) explicit_bzero((char *)token, n); /* the tree's copy of the token */
  doc_close(&d);
  return rc;
}

/* ------------------------------------------------------------ 2.2 track */

/* The fields of a track record, in the spec's order (2.2), which hosts send. */
enum {
  TR_IMEI, TR_SERVERTIME, TR_GPSTIME, TR_HEARTTIME, TR_SYSTEMTIME, TR_LONGITUDE, TR_LATITUDE,
  TR_COURSE, TR_SPEED, TR_ACCTIME, TR_ACCSTATUS, TR_DOORSTATUS, TR_CHARGESTATUS,
  TR_OILPOWERSTATUS, TR_DEFENCESTATUS, TR_DATASTATUS, TR_BATTERY, TR_MILEAGE, TR_TODAYMILEAGE,
  TR_COUNT
};
static const char *const track_names[TR_COUNT] = {
  "imei", "servertime", "gpstime", "hearttime", "systemtime", "longitude", "latitude",
  "course", "speed", "acctime", "accstatus", "doorstatus", "chargestatus", "oilpowerstatus",
  "defencestatus", "datastatus", "battery", "mileage", "todaymileage"};

static int track_one(const cJSON *o, const char *p, void *item, api_error_t *err) {
  api_track_t *t = item;
  const cJSON *f[TR_COUNT];
  members_find(o, track_names, TR_COUNT, f);
#define N(k) f[k], p, track_names[k]
  int rc = imei_value(f[TR_IMEI], p, t->imei, err);
  if (!rc) rc = time_value(N(TR_SERVERTIME), true, &t->servertime, err);
  if (!rc) rc = time_value(N(TR_GPSTIME), true, &t->gpstime, err);
  if (!rc) rc = time_value(N(TR_HEARTTIME), true, &t->hearttime, err);
  if (!rc) rc = time_value(N(TR_SYSTEMTIME), true, &t->systemtime, err);
  if (!rc) rc = double_value(N(TR_LONGITUDE), -180, 180, &t->longitude, err);
  if (!rc) rc = double_value(N(TR_LATITUDE), -90, 90, &t->latitude, err);
  if (!rc) rc = i32_value(N(TR_COURSE), true, API_UNKNOWN, 360, &t->course, err);
  if (!rc) rc = i32_value(N(TR_SPEED), true, API_UNKNOWN, 100000, &t->speed, err);
  if (!rc) rc = i32_value(N(TR_DATASTATUS), true, API_UNKNOWN, INT32_MAX, &t->datastatus, err);
  /* Optional: each has a "-1: no such status" meaning, which absence maps onto. */
  if (!rc) rc = time_value(N(TR_ACCTIME), false, &t->acctime, err);
  if (!rc) rc = i32_value(N(TR_ACCSTATUS), false, API_UNKNOWN, INT32_MAX, &t->accstatus, err);
  if (!rc) rc = i32_value(N(TR_DOORSTATUS), false, API_UNKNOWN, INT32_MAX, &t->doorstatus, err);
  if (!rc)
    rc = i32_value(N(TR_CHARGESTATUS), false, API_UNKNOWN, INT32_MAX, &t->chargestatus, err);
  if (!rc)
    rc = i32_value(N(TR_OILPOWERSTATUS), false, API_UNKNOWN, INT32_MAX, &t->oilpowerstatus,
                   err);
  if (!rc)
    rc = i32_value(N(TR_DEFENCESTATUS), false, API_UNKNOWN, INT32_MAX, &t->defencestatus,
                   err);
  if (!rc) rc = i32_value(N(TR_BATTERY), false, API_UNKNOWN, INT32_MAX, &t->battery, err);
  if (!rc) rc = int_value(N(TR_MILEAGE), false, API_UNKNOWN, JSON_INT_MAX, &t->mileage, err);
  if (!rc)
    rc = int_value(N(TR_TODAYMILEAGE), false, API_UNKNOWN, JSON_INT_MAX, &t->todaymileage,
                   err);
#undef N
  return rc;
}

int api_parse_track(const char *body, size_t len, api_tracks_t *out, api_error_t *err) {
  return parse_array(API_EP_TRACK, body, len, (void **)&out->items, &out->cap, &out->n,
                     sizeof(api_track_t), track_one, NULL, err);
}

int api_parse_track_lenient(const char *body, size_t len, api_tracks_t *out, api_rejects_t *rej,
                            api_error_t *err) {
  *rej = (api_rejects_t){0};
  return parse_array(API_EP_TRACK, body, len, (void **)&out->items, &out->cap, &out->n,
                     sizeof(api_track_t), track_one, rej, err);
}

void api_tracks_free(api_tracks_t *t) {
  if (!t) return;
  free(t->items);
  *t = (api_tracks_t){0};
}

/* ------------------------------------------------------------ 2.3, 2.8 record strings */

/* Opens body and finds its record string (a playback or alarm page of ep; "" with
 * *n == 0 when empty or "no data"). On success d is open: doc_close it once s is no
 * longer needed. */
static int open_record_string(api_endpoint_t ep, const char *body, size_t len, doc_t *d,
                              const char **s, size_t *n, api_error_t *err) {
  int rc = doc_open(body, len, ep, d, err);
  if (rc) return rc;
  if (d->no_data) {
    *s = "";
    *n = 0;
    return 0;
  }
  if (!d->record) rc = api_error_set(err, API_ERR_MISSING, 0, "record: missing");
  else if (!cJSON_IsString(d->record) || !d->record->valuestring)
    rc = api_error_set(err, API_ERR_TYPE, 0, "record: expected a string, got %s",
                       type_name(d->record));
  if (rc) {
    doc_close(d);
    return rc;
  }
  *s = d->record->valuestring;
  *n = strlen(*s);
  return 0;
}

/* Playback (points) or alarm/list (alarms): the record string's groups. rej NULL: strict,
 * a bad group fails the answer; else lenient, a bad group is skipped and described. */
static int parse_group_answer(api_endpoint_t ep, const char *body, size_t len,
                              api_points_t *points, api_alarms_t *alarms, api_rejects_t *rej,
                              api_error_t *err) {
  size_t *count = points ? &points->n : &alarms->n;
  *count = 0;
  if (rej) *rej = (api_rejects_t){0};
  doc_t d;
  const char *s;
  size_t n;
  int rc = open_record_string(ep, body, len, &d, &s, &n, err);
  if (rc) return rc;
  rc = points ? api_records_parse_points_lenient(s, n, points, rej, err)
              : api_records_parse_alarms_lenient(s, n, alarms, rej, err);
  if (rc) *count = 0;
  doc_close(&d);
  return rc;
}

int api_parse_playback(const char *body, size_t len, api_points_t *out, api_error_t *err) {
  return parse_group_answer(API_EP_PLAYBACK, body, len, out, NULL, NULL, err);
}

int api_parse_playback_lenient(const char *body, size_t len, api_points_t *out,
                               api_rejects_t *rej, api_error_t *err) {
  return parse_group_answer(API_EP_PLAYBACK, body, len, out, NULL, rej, err);
}

int api_parse_alarm_list(const char *body, size_t len, api_alarms_t *out,
                         api_error_t *err) {
  return parse_group_answer(API_EP_ALARM_LIST, body, len, NULL, out, NULL, err);
}

int api_parse_alarm_list_lenient(const char *body, size_t len, api_alarms_t *out,
                                 api_rejects_t *rej, api_error_t *err) {
  return parse_group_answer(API_EP_ALARM_LIST, body, len, NULL, out, rej, err);
}

/* ------------------------------------------------------------ 2.7, 2.12, 2.11, 2.15 */

/* Strings of a list result go into one arena: a first pass (arena == NULL) validates
 * and measures, the second copies. */
typedef struct {
  char *arena;
  size_t used;
} strings_t;

static int take_string(const cJSON *o, const char *p, const char *key, bool required,
                       strings_t *st, const char **out, api_error_t *err) {
  const char *s = NULL;
  size_t n = 0;
  int rc = get_string(o, p, key, required, &s, &n, err);
  if (rc) return rc;
  if (st->arena) {
    memcpy(st->arena + st->used, s, n + 1);
    *out = st->arena + st->used;
  } else {
    *out = "";
  }
  st->used += n + 1;
  return 0;
}

static int device_one(const cJSON *o, const char *p, void *row, strings_t *st,
                      api_error_t *err) {
  api_device_t *dv = row;
  int rc = get_imei(o, p, dv->imei, err);
  if (!rc) rc = take_string(o, p, "devicename", false, st, &dv->devicename, err);
  if (!rc) rc = take_string(o, p, "devicetype", false, st, &dv->devicetype, err);
  if (!rc) rc = take_string(o, p, "platenumber", false, st, &dv->platenumber, err);
  if (!rc) rc = take_string(o, p, "simcard", false, st, &dv->simcard, err);
  if (!rc) rc = take_string(o, p, "iccid", false, st, &dv->iccid, err);
  if (!rc) rc = get_time(o, p, "onlinetime", false, &dv->onlinetime, err);
  if (!rc) rc = get_time(o, p, "platformduetime", false, &dv->platformduetime, err);
  if (!rc) rc = get_time(o, p, "activatedtime", false, &dv->activatedtime, err);
  if (!rc) rc = get_time(o, p, "userduetime", false, &dv->userduetime, err);
  return rc;
}

static int user_one(const cJSON *o, const char *p, void *row, strings_t *st,
                    api_error_t *err) {
  api_user_t *u = row;
  int rc = take_string(o, p, "account", true, st, &u->account, err);
  if (!rc) rc = take_string(o, p, "username", false, st, &u->username, err);
  if (!rc) rc = take_string(o, p, "email", false, st, &u->email, err);
  if (!rc) rc = take_string(o, p, "mobile", false, st, &u->mobile, err);
  if (!rc) rc = take_string(o, p, "telephone", false, st, &u->telephone, err);
  if (!rc) rc = get_time(o, p, "createtime", false, &u->createtime, err);
  if (!rc) rc = get_i32(o, p, "roletype", false, API_UNKNOWN, INT32_MAX, &u->roletype, err);
  if (!rc)
    rc = get_i32(o, p, "blockstatus", false, API_UNKNOWN, INT32_MAX, &u->blockstatus, err);
  return rc;
}

typedef int (*row_fn)(const cJSON *o, const char *prefix, void *row, strings_t *st,
                      api_error_t *err);

/* Fills a freshly allocated items[] + arena from an array record of ep (or, single, from
 * an object record as one row); "no data" is zero rows. rej: as parse_array's. */
static int parse_rows(api_endpoint_t ep, const char *body, size_t len, bool single,
                      size_t row_size, row_fn one, void **items_out, size_t *n_out,
                      char **strings_out, api_rejects_t *rej, api_error_t *err) {
  doc_t d;
  int rc = doc_open(body, len, ep, &d, err);
  if (rc) return rc;
  void *items = NULL;
  strings_t st = {NULL, 0};
  if (!d.no_data) rc = need_record(&d, !single, err);
  if (rc) goto out;
  size_t n = single ? 1 : (size_t)cJSON_GetArraySize(d.record);
  items = calloc(n ? n : 1, row_size);
  if (!items) {
    rc = -ENOMEM;
    goto out;
  }
  for (int pass = 0; pass < 2 && !rc; pass++) {
    if (pass == 1) {
      st.arena = malloc(st.used ? st.used : 1);
      if (!st.arena) {
        rc = -ENOMEM;
        break;
      }
      st.used = 0;
    }
    if (single) {
      rc = one(d.record, "record", items, &st, err);
      continue;
    }
    const cJSON *el;
    size_t i = 0, index = 0;
    cJSON_ArrayForEach(el, d.record) {
      char prefix[32];
      api_error_t e1;
      api_error_t *e = rej ? &e1 : err;
      rc = element(el, index, prefix, sizeof prefix, e);
      if (!rc) rc = one(el, prefix, (char *)items + i * row_size, &st, e);
      index++;
      if (rc && rej && rc != -ENOMEM) {
        /* the same elements fail in both passes: told once */
        if (pass == 0) reject_element(rej, index - 1, el, e);
        memset((char *)items + i * row_size, 0, row_size);
        rc = 0;
        continue;
      }
      if (rc) break;
      i++;
    }
    if (!single) n = i;
  }
  if (rc) goto out;
  *items_out = items;
  *n_out = n;
  *strings_out = st.arena;
  items = NULL;
  st.arena = NULL;
out:
  free(items);
  free(st.arena);
  doc_close(&d);
  return rc;
}

static int parse_devices(api_endpoint_t ep, const char *body, size_t len, api_devices_t *out,
                         api_error_t *err) {
  api_devices_free(out);
  return parse_rows(ep, body, len, false, sizeof(api_device_t), device_one,
                    (void **)&out->items, &out->n, &out->strings, NULL, err);
}

int api_parse_device_list(const char *body, size_t len, api_devices_t *out,
                          api_error_t *err) {
  return parse_devices(API_EP_DEVICE_LIST, body, len, out, err);
}

int api_parse_device_list_lenient(const char *body, size_t len, api_devices_t *out,
                                  api_rejects_t *rej, api_error_t *err) {
  api_devices_free(out);
  *rej = (api_rejects_t){0};
  return parse_rows(API_EP_DEVICE_LIST, body, len, false, sizeof(api_device_t), device_one,
                    (void **)&out->items, &out->n, &out->strings, rej, err);
}

int api_parse_device_detail(const char *body, size_t len, api_devices_t *out,
                            api_error_t *err) {
  return parse_devices(API_EP_DEVICE_DETAIL, body, len, out, err);
}

void api_devices_free(api_devices_t *d) {
  if (!d) return;
  free(d->items);
  free(d->strings);
  *d = (api_devices_t){0};
}

/* 2.11 answers one user as an object record, 2.15 a list as an array. */
static int parse_users(const char *body, size_t len, bool single, api_users_t *out,
                       api_error_t *err) {
  api_users_free(out);
  return parse_rows(single ? API_EP_USER_INFO : API_EP_USER_LIST, body, len, single,
                    sizeof(api_user_t), user_one, (void **)&out->items, &out->n, &out->strings,
                    NULL, err);
}

int api_parse_user_list_lenient(const char *body, size_t len, api_users_t *out,
                                api_rejects_t *rej, api_error_t *err) {
  api_users_free(out);
  *rej = (api_rejects_t){0};
  return parse_rows(API_EP_USER_LIST, body, len, false, sizeof(api_user_t), user_one,
                    (void **)&out->items, &out->n, &out->strings, rej, err);
}

int api_parse_user_info(const char *body, size_t len, api_users_t *out, api_error_t *err) {
  return parse_users(body, len, true, out, err);
}

int api_parse_user_list(const char *body, size_t len, api_users_t *out, api_error_t *err) {
  return parse_users(body, len, false, out, err);
}

void api_users_free(api_users_t *u) {
  if (!u) return;
  free(u->items);
  free(u->strings);
  *u = (api_users_t){0};
}

/* ------------------------------------------------------------ 2.5, 2.6 */

int api_parse_command_send(const char *body, size_t len, char **commandid,
                           api_error_t *err) {
  *commandid = NULL;
  doc_t d;
  int rc = open_object_record(body, len, &d, err);
  if (rc) return rc;
  const char *s = NULL;
  size_t n = 0;
  rc = get_string(d.record, "record", "commandid", true, &s, &n, err);
  if (!rc && !(*commandid = strdup(s))) rc = -ENOMEM;
  doc_close(&d);
  return rc;
}

int api_parse_command_query(const char *body, size_t len, api_command_status_t *out,
                            api_error_t *err) {
  api_command_status_free(out);
  doc_t d;
  int rc = open_object_record(body, len, &d, err);
  if (rc) return rc;
  const char *s = NULL;
  size_t n = 0;
  int32_t status;
  rc = get_string(d.record, "record", "response", false, &s, &n, err);
  if (!rc) rc = get_i32(d.record, "record", "commandstatus", true, 0, 1, &status, err);
  if (!rc && !(out->response = strdup(s))) rc = -ENOMEM;
  if (!rc) out->commandstatus = status;
  doc_close(&d);
  return rc;
}

void api_command_status_free(api_command_status_t *s) {
  if (!s) return;
  free(s->response);
  *s = (api_command_status_t){0};
}

/* ------------------------------------------------------------ 2.14 */

static int mileage_one(const cJSON *o, const char *p, void *item, api_error_t *err) {
  api_mileage_t *m = item;
  int rc = get_imei(o, p, m->imei, err);
  if (!rc) rc = get_double(o, p, "mileage", API_UNKNOWN, 1e9, &m->km, err);
  if (!rc && m->km < 0 && m->km != API_UNKNOWN)
    rc = api_error_set(err, API_ERR_RANGE, 0, "%s.mileage: %.17g is negative", p, m->km);
  return rc;
}

int api_parse_mileage(const char *body, size_t len, api_mileages_t *out, api_error_t *err) {
  return parse_array(API_EP_DEVICE_MILEAGE, body, len, (void **)&out->items, &out->cap,
                     &out->n, sizeof(api_mileage_t), mileage_one, NULL, err);
}

int api_parse_mileage_lenient(const char *body, size_t len, api_mileages_t *out,
                              api_rejects_t *rej, api_error_t *err) {
  *rej = (api_rejects_t){0};
  return parse_array(API_EP_DEVICE_MILEAGE, body, len, (void **)&out->items, &out->cap,
                     &out->n, sizeof(api_mileage_t), mileage_one, rej, err);
}

void api_mileages_free(api_mileages_t *m) {
  if (!m) return;
  free(m->items);
  *m = (api_mileages_t){0};
}
