/* The Open API's rules, endpoint by endpoint, over the fleet model. Every error is
 * {"code":N,"message":"<the spec's text>"}. Choices where the spec is silent:
 *  - A parameter that is present but empty counts as missing (10005).
 *  - Too many items (>100 IMEIs, >200 accounts, >300 characters), a value outside its
 *    range (radius, alarmtype, coordinates), begin > end, a mileage window over 7 days
 *    or not positive: 10006. A value that does not parse, an empty list item, a mileage
 *    time off minute 0/30: 10004.
 *  - An IMEI that does not exist or is not under the token's account (or its
 *    sub-accounts): 10013. An account (or command id) that does not exist: 20005; one
 *    outside the token's subtree: 10007. Block/unblock need a strict sub-account.
 *  - Playback and alarms clamp [begin, end] to [present - history, present]; nothing
 *    left, or no record in it: "no data", said as --nodata chooses: 20023 "No Data."
 *    (the default), or code 0 with the record "", missing or null, as real hosts do
 *    (spec/NOTES.md). With those three, an empty device or user list is said the same
 *    way; with 20023 it stays [] (the spec's empty array).
 *  - Tokens: 10010 unknown, 10011 replaced by a newer login or revoked, 10012 older than
 *    expires_in (real seconds). A token of a blocked account gets 10016. Their key is
 *    random per start (--token-seed fixes it): as on real hosts, no simulator accepts
 *    another's tokens.
 *  - Rate limits count real time per account and endpoint; a request refused with
 *    10009 does not count as the last one, so waiting the spacing after the last
 *    accepted call always works. Authorization is limited per account parameter.
 *  - GET and POST are both accepted on every endpoint (parameters from the query
 *    string and/or a form body). */
#include "sim/sim_api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "api/sign.h"
#include "sim/json_out.h"
#include "util/log.h"

#define MAX_IMEIS 100
#define MAX_LIST 500
#define MAX_MESSAGE_ACCOUNTS 200
#define MAX_MESSAGE_CHARS 300
#define MAX_FENCE_NAME_CHARS 100
#define PLAYBACK_PAGE 1000
#define ALARM_PAGE 100
#define MILEAGE_MAX_SPAN (7 * 86400)
#define TIME_TOLERANCE 300

enum {
  CMD_RELAY1 = 0, CMD_RELAY0, CMD_RESET, CMD_LOCKDOOR, CMD_UNLOCKDOOR, CMD_SET_MILEAGE, CMD_KINDS
};
static const char *const command_names[CMD_KINDS] = {
  "RELAY,1", "RELAY,0", "RESET", "LOCKDOOR", "UNLOCKDOOR", "SET_MILEAGE",
};
static const char *const command_answers[CMD_KINDS] = {
  "Cut off the fuel supply: Success!", "Restore the fuel supply: Success!",
  "Reset: Success!", "Lock door: Success!", "Unlock door: Success!", "Set mileage: Success!",
};

typedef struct account_state {
  char pw_md5[API_MD5_HEX_LEN + 1]; /* lower-case md5 of the current password */
  uint32_t serial;                  /* serial of the current token; 0: none issued */
  bool revoked;                     /* the current token was revoked (fault) */
  bool blocked;
  uint64_t expires_ns;              /* monotonic time the current token expires */
  uint64_t logins;
} account_state_t;

typedef struct command {
  uint32_t dev;
  uint32_t account;     /* who sent it */
  uint8_t kind;
  uint8_t silent_queries; /* queries answered with commandstatus 0 before the answer */
  bool never;           /* the device is offline: it never answers */
  uint32_t queries;
  int64_t mileage;      /* SET_MILEAGE's value */
} command_t;

/* The response codes /sim/stats counts: every code of chapter 3, and 0. */
static const int counted_codes[] = {0,     10000, 10001, 10002, 10003, 10004, 10005, 10006,
                                    10007, 10009, 10010, 10011, 10012, 10013, 10014, 10016,
                                    20001, 20005, 20017, 20018, 20023, 20046, 20048, 20089};
#define NCODES (sizeof counted_codes / sizeof counted_codes[0])

typedef struct stats {
  uint64_t requests[API_EP_COUNT + 1]; /* the last: unknown /api/ paths */
  uint64_t responses[NCODES];
  uint64_t http500, http502;
  uint64_t faults[SIM_FAULT_COUNT];
  uint64_t records_playback, records_alarm;
  uint64_t nodata; /* "no data" answers, in whatever form */
} stats_t;

/* sim_fleet_state is pure in (device, second) but costs microseconds (trigonometry);
 * trackers poll the same devices many times a second, so one entry per device. */
typedef struct state_entry {
  int64_t at;        /* the present it was computed for; 0: empty */
  sim_state_t state;
} state_entry_t;

struct sim_api {
  sim_fleet_t *fleet;
  state_entry_t *states; /* [device], allocated on the first track */
  sim_api_options_t opt;
  uint64_t start_ns;
  size_t naccounts;
  account_state_t *acct;
  uint64_t *last_ns;   /* [account * API_EP_COUNT + ep]: last accepted request */
  command_t *cmds;
  size_t ncmds, cmd_cap;
  uint32_t cmd_base;
  uint64_t rng;
  bool faults_on;
  stats_t st;
};

typedef struct ctx {
  sim_api_t *api;
  const sim_http_request_t *req;
  sim_json_t j;
  int ep;
  uint32_t account;   /* the token's account */
  int64_t present;
} ctx_t;

/* ---- small helpers ---- */

static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double rng_next(sim_api_t *api) {
  api->rng += 0x9e3779b97f4a7c15ULL;
  return (double)(mix64(api->rng) >> 11) * (1.0 / 9007199254740992.0);
}

int64_t sim_api_present(const sim_api_t *api) {
  double el = (double)(uv_hrtime() - api->start_ns) / 1e9;
  return api->opt.present + (int64_t)floor(el * api->opt.speed);
}

/* A parameter's value, or NULL when it is absent or empty (both count as missing). */
static const char *param(const ctx_t *c, const char *name) {
  const char *v = sim_http_request_param(c->req, name);
  return v && *v ? v : NULL;
}

/* Strict decimal integer: optional '-', digits, nothing else. */
static bool parse_i64(const char *s, int64_t *out) {
  const char *p = s;
  bool neg = *p == '-';
  if (neg) p++;
  if (!*p || strlen(p) > 18) return false;
  int64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
  }
  *out = neg ? -v : v;
  return true;
}

static bool parse_double(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v)) return false;
  *out = v;
  return true;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) n++;
  return n;
}

/* Is account a equal to anc or below it? */
static bool account_under(const sim_api_t *api, uint32_t a, uint32_t anc) {
  int32_t cur = (int32_t)a;
  for (int depth = 0; cur >= 0 && depth < 64; depth++) {
    if ((uint32_t)cur == anc) return true;
    cur = sim_fleet_account(api->fleet, (size_t)cur)->parent;
  }
  return false;
}

static void count_code(sim_api_t *api, int code) {
  for (size_t i = 0; i < NCODES; i++)
    if (counted_codes[i] == code) {
      api->st.responses[i]++;
      return;
    }
}

static void write_error(sim_json_t *j, int code) {
  const char *text = api_code_text(code);
  sim_json_lit(j, "{\"code\":");
  sim_json_int(j, code);
  sim_json_lit(j, ",\"message\":");
  sim_json_string(j, text ? text : "");
  sim_json_lit(j, "}");
}

/* The account named by parameter `name` (the token's own when absent and allowed).
 * Returns 0, 10005, 20005 (no such account) or 10007 (outside the token's subtree;
 * with strict, the token's own account too). */
static int resolve_account(const ctx_t *c, const char *name, bool optional, bool strict,
                           uint32_t *out) {
  const char *v = param(c, name);
  if (!v) {
    if (!optional) return API_CODE_MISSING_PARAMETER;
    *out = c->account;
    return 0;
  }
  int32_t a = sim_fleet_account_find(c->api->fleet, v);
  if (a < 0) return API_CODE_TARGET_NOT_EXIST;
  if (!account_under(c->api, (uint32_t)a, c->account)) return API_CODE_PERMISSION_DENIED;
  if (strict && (uint32_t)a == c->account) return API_CODE_PERMISSION_DENIED;
  *out = (uint32_t)a;
  return 0;
}

/* A device IMEI the token may see: 0, 10013 (unknown or not under the account). */
static int resolve_imei(const ctx_t *c, const char *imei, size_t n, uint32_t *dev) {
  char tmp[32];
  if (n == 0) return API_CODE_PARAMETER_ERROR;
  if (n >= sizeof tmp) return API_CODE_IMEI_NOT_AUTHORIZED;
  memcpy(tmp, imei, n);
  tmp[n] = '\0';
  int64_t d = sim_fleet_device_find(c->api->fleet, tmp);
  if (d < 0) return API_CODE_IMEI_NOT_AUTHORIZED;
  const sim_device_t *dv = sim_fleet_device(c->api->fleet, (size_t)d);
  if (!account_under(c->api, dv->account, c->account)) return API_CODE_IMEI_NOT_AUTHORIZED;
  *dev = (uint32_t)d;
  return 0;
}

/* The comma-separated `imeis`: 10005, 10004 (empty item), 10006 (>100), 10013. */
static int resolve_imeis(const ctx_t *c, uint32_t devs[MAX_IMEIS], size_t *n) {
  const char *v = param(c, "imeis");
  if (!v) return API_CODE_MISSING_PARAMETER;
  size_t count = 1;
  for (const char *p = v; *p; p++) count += *p == ',';
  if (count > MAX_IMEIS) return API_CODE_OUT_OF_RANGE;
  *n = 0;
  const char *s = v;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    int rc = resolve_imei(c, s, len, &devs[*n]);
    if (rc) return rc;
    (*n)++;
    if (!e) break;
    s = e + 1;
  }
  return 0;
}

/* ---- tokens: account index and serial, masked, plus a keyed check word; nothing to
 * store per token, and an old token is told apart from a made-up one. ---- */

static void hex16(char *out, uint64_t v) {
  static const char hex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; i--, v >>= 4) out[i] = hex[v & 15];
}

static void token_make(const sim_api_t *api, uint32_t account, uint32_t serial, char out[33]) {
  uint64_t a = (((uint64_t)account << 32) | serial) ^ mix64(api->opt.token_seed ^ 0x70c3e17a11ULL);
  uint64_t b = mix64(api->opt.token_seed ^ (a * 0x2545f4914f6cdd1dULL));
  hex16(out, a);
  hex16(out + 16, b);
  out[32] = '\0';
}

static int token_check(sim_api_t *api, const char *tok, uint32_t *account) {
  if (strlen(tok) != 32) return API_CODE_TOKEN_NOT_EXIST;
  uint64_t a = 0, b = 0;
  for (int i = 0; i < 32; i++) {
    char ch = tok[i];
    int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (v < 0) return API_CODE_TOKEN_NOT_EXIST;
    if (i < 16) a = a << 4 | (uint64_t)v;
    else b = b << 4 | (uint64_t)v;
  }
  if (b != mix64(api->opt.token_seed ^ (a * 0x2545f4914f6cdd1dULL))) return API_CODE_TOKEN_NOT_EXIST;
  uint64_t v = a ^ mix64(api->opt.token_seed ^ 0x70c3e17a11ULL);
  uint32_t acc = (uint32_t)(v >> 32), serial = (uint32_t)v;
  if (acc >= api->naccounts) return API_CODE_TOKEN_NOT_EXIST;
  account_state_t *st = &api->acct[acc];
  if (serial == 0 || serial > st->serial) return API_CODE_TOKEN_NOT_EXIST;
  if (serial < st->serial || st->revoked) return API_CODE_TOKEN_INVALID;
  if (uv_hrtime() >= st->expires_ns) return API_CODE_TOKEN_EXPIRED;
  *account = acc;
  return 0;
}

/* True when the request may go ahead; records it as the last one then. */
static bool rate_ok(sim_api_t *api, uint32_t account, int ep) {
  int64_t lim = api->opt.limit_ms[ep];
  if (lim <= 0) return true;
  uint64_t now = uv_hrtime(), *last = &api->last_ns[(size_t)account * API_EP_COUNT + (size_t)ep];
  if (*last && now - *last < (uint64_t)lim * 1000000ULL) return false;
  *last = now;
  return true;
}

/* ---- endpoints; each returns 0 with its answer written, or an error code ---- */

static int ep_authorization(ctx_t *c) {
  sim_api_t *api = c->api;
  const char *ts = param(c, "time"), *name = param(c, "account"), *sig = param(c, "signature");
  if (!ts || !name || !sig) return API_CODE_MISSING_PARAMETER;
  int64_t t;
  if (!parse_i64(ts, &t)) return API_CODE_PARAMETER_ERROR;
  int32_t a = sim_fleet_account_find(api->fleet, name);
  if (a >= 0 && !rate_ok(api, (uint32_t)a, c->ep)) return API_CODE_TOO_FREQUENT;
  int64_t server_now = (int64_t)time(NULL) + api->opt.clock_skew_s;
  if (t > server_now + TIME_TOLERANCE || t < server_now - TIME_TOLERANCE) return API_CODE_TIME_ERROR;
  if (a < 0) return API_CODE_BAD_CREDENTIALS;
  account_state_t *st = &api->acct[a];
  char want[API_MD5_HEX_LEN + 1];
  if (api_signature(st->pw_md5, t, want) != 0) return API_CODE_SYSTEM_ERROR;
  if (strlen(sig) != API_MD5_HEX_LEN || strcasecmp(sig, want) != 0) return API_CODE_BAD_CREDENTIALS;
  if (st->blocked) return API_CODE_ACCOUNT_BLOCKED;
  st->serial++;
  st->revoked = false;
  st->expires_ns = uv_hrtime() + (uint64_t)api->opt.token_ttl_s * 1000000000ULL;
  st->logins++;
  char tok[33];
  token_make(api, (uint32_t)a, st->serial, tok);
  sim_json_lit(&c->j, "{\"code\":0,\"record\":{\"access_token\":\"");
  sim_json_raw(&c->j, tok, 32);
  sim_json_lit(&c->j, "\",\"expires_in\":");
  sim_json_int(&c->j, api->opt.token_ttl_s);
  sim_json_lit(&c->j, "}}");
  log_debug("sim: login of account %s", name);
  return 0;
}

#define KEY_INT(j, key, v)          \
  do {                              \
    sim_json_lit(j, ",\"" key "\":"); \
    sim_json_int(j, v);             \
  } while (0)

#define KEY_STR(j, key, v)          \
  do {                              \
    sim_json_lit(j, ",\"" key "\":"); \
    sim_json_string(j, v);          \
  } while (0)

static int state_at(sim_api_t *api, uint32_t dev, int64_t now, sim_state_t *out) {
  if (!api->states) api->states = calloc(sim_fleet_device_count(api->fleet) + 1, sizeof *api->states);
  state_entry_t *e = api->states ? &api->states[dev] : NULL;
  if (e && e->at == now && now != 0) {
    *out = e->state;
    return 0;
  }
  int rc = sim_fleet_state(api->fleet, dev, now, out);
  if (rc == 0 && e) {
    e->at = now;
    e->state = *out;
  }
  return rc;
}

static int ep_track(ctx_t *c) {
  uint32_t devs[MAX_IMEIS];
  size_t n;
  int rc = resolve_imeis(c, devs, &n);
  if (rc) return rc;
  sim_json_t *j = &c->j;
  sim_json_lit(j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    sim_state_t s;
    int64_t at = c->present;
    for (size_t k = 0; k < c->api->opt.ntrack_behind; k++)
      if (c->api->opt.track_behind[k].dev == devs[i] && c->api->opt.track_behind[k].at < at)
        at = c->api->opt.track_behind[k].at;
    if (state_at(c->api, devs[i], at, &s) != 0) return API_CODE_SYSTEM_ERROR;
    const sim_device_t *d = sim_fleet_device(c->api->fleet, devs[i]);
    sim_inject_track_t bad = {c->present, s.last.gpstime, s.last.course, s.accstatus};
    if (c->api->opt.inject_on)
      sim_inject_track(&c->api->opt.inject, devs[i],
                       (double)(uv_hrtime() - c->api->start_ns) / 1e9, &bad);
    if (i) sim_json_lit(j, ",");
    sim_json_lit(j, "{\"imei\":\"");
    sim_json_raw(j, d->imei, strlen(d->imei));
    sim_json_lit(j, "\"");
    KEY_INT(j, "servertime", bad.servertime);
    KEY_INT(j, "gpstime", bad.gpstime);
    KEY_INT(j, "hearttime", s.hearttime);
    KEY_INT(j, "systemtime", s.systemtime);
    sim_json_lit(j, ",\"longitude\":");
    sim_json_fixed(j, s.last.longitude, 6);
    sim_json_lit(j, ",\"latitude\":");
    sim_json_fixed(j, s.last.latitude, 6);
    KEY_INT(j, "course", bad.course);
    KEY_INT(j, "speed", s.last.speed);
    KEY_INT(j, "acctime", s.acctime);
    KEY_INT(j, "accstatus", bad.accstatus);
    KEY_INT(j, "doorstatus", s.doorstatus);
    KEY_INT(j, "chargestatus", s.chargestatus);
    KEY_INT(j, "oilpowerstatus", s.oilpowerstatus);
    KEY_INT(j, "defencestatus", s.defencestatus);
    KEY_INT(j, "datastatus", s.datastatus);
    KEY_INT(j, "battery", s.battery);
    KEY_INT(j, "mileage", s.mileage_m);
    KEY_INT(j, "todaymileage", s.todaymileage_m);
    sim_json_lit(j, "}");
  }
  sim_json_lit(j, "]}");
  return 0;
}

/* [begin, end] cut to the history the platform holds, which ends at the present. */
static void clamp_window(const ctx_t *c, int64_t begin, int64_t end, int64_t *lo, int64_t *hi) {
  int64_t floor_t = c->present - c->api->opt.history_s;
  *lo = begin > floor_t ? begin : floor_t;
  *hi = end < c->present ? end : c->present;
}

/* imei, begintime, endtime, clamped to the window the platform holds. */
static int time_window(ctx_t *c, uint32_t *dev, int64_t *lo, int64_t *hi) {
  const char *imei = param(c, "imei"), *b = param(c, "begintime"), *e = param(c, "endtime");
  if (!imei || !b || !e) return API_CODE_MISSING_PARAMETER;
  int64_t begin, end;
  if (!parse_i64(b, &begin) || !parse_i64(e, &end)) return API_CODE_PARAMETER_ERROR;
  if (begin > end) return API_CODE_OUT_OF_RANGE;
  int rc = resolve_imei(c, imei, strlen(imei), dev);
  if (rc) return rc;
  clamp_window(c, begin, end, lo, hi);
  return *lo > *hi ? API_CODE_NO_DATA : 0;
}

/* "No data", in the form --nodata chooses: 20023 is returned as the error code it is;
 * the others replace whatever was written with a code 0 answer. */
static int no_data(ctx_t *c) {
  static const char *const answers[] = {
    [SIM_NODATA_EMPTY] = "{\"code\":0,\"record\":\"\"}",
    [SIM_NODATA_MISSING] = "{\"code\":0}",
    [SIM_NODATA_NULL] = "{\"code\":0,\"record\":null}",
  };
  c->api->st.nodata++;
  if (c->api->opt.nodata == SIM_NODATA_20023) return API_CODE_NO_DATA;
  buf_reset(c->j.b);
  sim_json_raw(&c->j, answers[c->api->opt.nodata], strlen(answers[c->api->opt.nodata]));
  return 0;
}

typedef struct page {
  sim_json_t *j;
  size_t n, max;
  bool bad_first; /* --inject group=: the first group's course is 361 */
} page_t;

/* One record of a playback or alarm string: ';' before every record but the first,
 * ',' between its fields; 9 fields of at most 40 bytes fit. */
typedef struct record {
  char text[384];
  size_t len;
  unsigned fields;
} record_t;

static void record_start(record_t *r, const page_t *pg) {
  r->len = 0;
  r->fields = 0;
  if (pg->n) r->text[r->len++] = ';';
}

static void record_int(record_t *r, int64_t v) {
  if (r->fields++) r->text[r->len++] = ',';
  r->len += sim_fmt_int(r->text + r->len, v);
}

static void record_coord(record_t *r, double v) {
  if (r->fields++) r->text[r->len++] = ',';
  r->len += sim_fmt_fixed(r->text + r->len, v, 6);
}

/* Appends r to the page; 1 (stop) once the page is full. */
static int record_end(page_t *pg, const record_t *r) {
  sim_json_raw(pg->j, r->text, r->len);
  return ++pg->n >= pg->max ? 1 : 0;
}

static int cb_playback_point(void *arg, const sim_point_t *p) {
  page_t *pg = arg;
  record_t r;
  record_start(&r, pg);
  record_coord(&r, p->longitude);
  record_coord(&r, p->latitude);
  record_int(&r, p->gpstime);
  record_int(&r, p->speed);
  record_int(&r, pg->bad_first && pg->n == 0 ? 361 : p->course);
  return record_end(pg, &r);
}

static int cb_alarm(void *arg, const sim_alarm_t *a) {
  page_t *pg = arg;
  record_t r;
  record_start(&r, pg);
  record_int(&r, a->type);
  record_coord(&r, a->longitude);
  record_coord(&r, a->latitude);
  record_int(&r, a->gpstime);
  record_int(&r, a->systemtime);
  record_int(&r, a->speed);
  record_int(&r, a->course);
  record_int(&r, a->geofence_id);
  return record_end(pg, &r);
}

static int ep_playback_or_alarms(ctx_t *c, bool alarms) {
  uint32_t dev;
  int64_t lo, hi;
  int rc = time_window(c, &dev, &lo, &hi);
  if (rc) return rc == API_CODE_NO_DATA ? no_data(c) : rc;
  page_t pg = {&c->j, 0, alarms ? ALARM_PAGE : PLAYBACK_PAGE,
               !alarms && c->api->opt.inject_on && sim_inject_group(&c->api->opt.inject, dev)};
  sim_json_lit(&c->j, "{\"code\":0,\"record\":\"");
  rc = alarms ? sim_fleet_alarms(c->api->fleet, dev, lo, hi, cb_alarm, &pg)
              : sim_fleet_points_seen(c->api->fleet, dev, lo, hi, c->present, cb_playback_point, &pg);
  if (rc != 0 && rc != 1) return API_CODE_SYSTEM_ERROR;
  if (pg.n == 0) return no_data(c);
  if (pg.bad_first) c->api->opt.inject.injected++; /* a bad group was written */
  sim_json_lit(&c->j, "\"}");
  if (alarms) c->api->st.records_alarm += pg.n;
  else c->api->st.records_playback += pg.n;
  return 0;
}

static int ep_mileage(ctx_t *c) {
  uint32_t devs[MAX_IMEIS];
  size_t n;
  const char *b = param(c, "begintime"), *e = param(c, "endtime");
  if (!b || !e || !param(c, "imeis")) return API_CODE_MISSING_PARAMETER;
  int64_t begin, end;
  if (!parse_i64(b, &begin) || !parse_i64(e, &end)) return API_CODE_PARAMETER_ERROR;
  if (begin % 1800 != 0 || end % 1800 != 0) return API_CODE_PARAMETER_ERROR;
  if (end <= begin || end - begin > MILEAGE_MAX_SPAN) return API_CODE_OUT_OF_RANGE;
  int rc = resolve_imeis(c, devs, &n);
  if (rc) return rc;
  int64_t lo, hi;
  clamp_window(c, begin, end, &lo, &hi);
  sim_json_t *j = &c->j;
  sim_json_lit(j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    double km = lo < hi ? sim_fleet_mileage_km(c->api->fleet, devs[i], lo, hi) : 0.0;
    const sim_device_t *d = sim_fleet_device(c->api->fleet, devs[i]);
    if (i) sim_json_lit(j, ",");
    sim_json_lit(j, "{\"imei\":\"");
    sim_json_raw(j, d->imei, strlen(d->imei));
    sim_json_lit(j, "\",\"mileage\":");
    sim_json_fixed(j, km, 3);
    sim_json_lit(j, "}");
  }
  sim_json_lit(j, "]}");
  return 0;
}

static void write_device(sim_json_t *j, const sim_device_t *d, bool bad) {
  sim_json_lit(j, "{\"imei\":");
  sim_json_string(j, d->imei);
  KEY_STR(j, "devicename", d->devicename);
  KEY_STR(j, "devicetype", d->devicetype);
  KEY_STR(j, "platenumber", d->platenumber);
  if (bad) KEY_STR(j, "onlinetime", "bad");
  else KEY_INT(j, "onlinetime", d->onlinetime);
  KEY_INT(j, "platformduetime", d->platformduetime);
  KEY_STR(j, "simcard", d->simcard);
  KEY_STR(j, "iccid", d->iccid);
  KEY_INT(j, "activatedtime", d->activatedtime);
  KEY_INT(j, "userduetime", d->userduetime);
  sim_json_lit(j, "}");
}

/* The answer of 2.7 and 2.12: the devices as an array record. */
static void write_devices(ctx_t *c, const uint32_t *devs, size_t n) {
  sim_json_lit(&c->j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) sim_json_lit(&c->j, ",");
    bool bad = c->api->opt.inject_on && sim_inject_device(&c->api->opt.inject, devs[i]);
    if (bad) c->api->opt.inject.injected++;
    write_device(&c->j, sim_fleet_device(c->api->fleet, devs[i]), bad);
  }
  sim_json_lit(&c->j, "]}");
}

static int ep_device_list(ctx_t *c) {
  uint32_t a;
  if (c->api->opt.inject.fanout && sim_inject_fan_name(param(c, "account"))) {
    sim_json_lit(&c->j, "{\"code\":0,\"record\":[]}");
    return 0;
  }
  int rc = resolve_account(c, "account", true, false, &a);
  if (rc) return rc;
  const uint32_t *devs;
  size_t n = sim_fleet_account_devices(c->api->fleet, a, &devs);
  if (n > MAX_LIST) n = MAX_LIST;
  if (n == 0 && c->api->opt.nodata != SIM_NODATA_20023) return no_data(c);
  write_devices(c, devs, n);
  return 0;
}

static int ep_device_detail(ctx_t *c) {
  uint32_t devs[MAX_IMEIS];
  size_t n;
  int rc = resolve_imeis(c, devs, &n);
  if (rc) return rc;
  write_devices(c, devs, n);
  return 0;
}

static void write_user(const sim_api_t *api, sim_json_t *j, uint32_t a) {
  const sim_account_t *u = sim_fleet_account(api->fleet, a);
  sim_json_lit(j, "{\"account\":");
  sim_json_string(j, u->account);
  KEY_STR(j, "username", u->username);
  KEY_STR(j, "email", u->email);
  KEY_STR(j, "mobile", u->mobile);
  KEY_STR(j, "telephone", u->telephone);
  KEY_INT(j, "createtime", u->createtime);
  KEY_INT(j, "roletype", u->roletype);
  KEY_INT(j, "blockstatus", api->acct[a].blocked ? 0 : 1); /* spec: 0 blocked, 1 not */
  sim_json_lit(j, "}");
}

static int ep_user_info(ctx_t *c) {
  uint32_t a;
  int rc = resolve_account(c, "account", false, false, &a);
  if (rc) return rc;
  sim_json_lit(&c->j, "{\"code\":0,\"record\":");
  write_user(c->api, &c->j, a);
  sim_json_lit(&c->j, "}");
  return 0;
}

/* --inject fanout=N: N sub-accounts never listed before. */
static void write_fan(ctx_t *c, bool comma) {
  sim_inject_t *inj = &c->api->opt.inject;
  for (uint32_t k = 0; k < inj->fanout; k++) {
    char name[40];
    snprintf(name, sizeof name, "fan-%llu", (unsigned long long)++inj->fan_serial);
    if (comma || k) sim_json_lit(&c->j, ",");
    sim_json_lit(&c->j, "{\"account\":");
    sim_json_string(&c->j, name);
    sim_json_lit(&c->j, ",\"roletype\":2,\"blockstatus\":1}");
    inj->injected++;
  }
}

static int ep_user_list(ctx_t *c) {
  uint32_t a;
  bool fan = c->api->opt.inject.fanout > 0;
  if (fan && sim_inject_fan_name(param(c, "account"))) {
    sim_json_lit(&c->j, "{\"code\":0,\"record\":[");
    write_fan(c, false);
    sim_json_lit(&c->j, "]}");
    return 0;
  }
  int rc = resolve_account(c, "account", true, false, &a);
  if (rc) return rc;
  const uint32_t *kids;
  size_t n = sim_fleet_account_children(c->api->fleet, a, &kids);
  if (n > MAX_LIST) n = MAX_LIST;
  if (n == 0 && c->api->opt.nodata != SIM_NODATA_20023) return no_data(c);
  sim_json_lit(&c->j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) sim_json_lit(&c->j, ",");
    write_user(c->api, &c->j, kids[i]);
  }
  if (fan) write_fan(c, n > 0);
  sim_json_lit(&c->j, "]}");
  return 0;
}

static int ep_user_block(ctx_t *c, bool block) {
  uint32_t a;
  int rc = resolve_account(c, "account", false, true, &a);
  if (rc) return rc;
  c->api->acct[a].blocked = block;
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

static int ep_password_set(ctx_t *c) {
  const char *pw = param(c, "password");
  uint32_t a;
  int rc = resolve_account(c, "account", false, false, &a);
  if (rc) return rc;
  if (!pw) return API_CODE_MISSING_PARAMETER;
  if (!api_is_md5_hex(pw)) return API_CODE_PARAMETER_ERROR;
  char *dst = c->api->acct[a].pw_md5;
  for (int i = 0; i < API_MD5_HEX_LEN; i++)
    dst[i] = (char)(pw[i] >= 'A' && pw[i] <= 'F' ? pw[i] - 'A' + 'a' : pw[i]);
  dst[API_MD5_HEX_LEN] = '\0';
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

static int ep_message_send(ctx_t *c) {
  const char *accounts = param(c, "accounts"), *content = param(c, "content");
  if (!accounts || !content) return API_CODE_MISSING_PARAMETER;
  size_t count = 1;
  for (const char *p = accounts; *p; p++) count += *p == ',';
  if (count > MAX_MESSAGE_ACCOUNTS) return API_CODE_OUT_OF_RANGE;
  if (utf8_chars(content) > MAX_MESSAGE_CHARS) return API_CODE_OUT_OF_RANGE;
  const char *s = accounts;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char name[128];
    if (len == 0) return API_CODE_PARAMETER_ERROR;
    if (len >= sizeof name) return API_CODE_TARGET_NOT_EXIST;
    memcpy(name, s, len);
    name[len] = '\0';
    int32_t a = sim_fleet_account_find(c->api->fleet, name);
    if (a < 0) return API_CODE_TARGET_NOT_EXIST;
    if (!account_under(c->api, (uint32_t)a, c->account)) return API_CODE_PERMISSION_DENIED;
    if (!e) break;
    s = e + 1;
  }
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

static int ep_geofence_create(ctx_t *c) {
  const char *imei = param(c, "imei"), *name = param(c, "efencename"),
             *at = param(c, "alarmtype"), *lon_s = param(c, "longitude"),
             *lat_s = param(c, "latitude"), *rad_s = param(c, "radius");
  if (!imei || !name || !at || !lon_s || !lat_s || !rad_s) return API_CODE_MISSING_PARAMETER;
  int64_t alarmtype, radius;
  double lon, lat;
  if (!parse_i64(at, &alarmtype) || !parse_i64(rad_s, &radius) || !parse_double(lon_s, &lon) ||
      !parse_double(lat_s, &lat))
    return API_CODE_PARAMETER_ERROR;
  if (alarmtype < 0 || alarmtype > 2 || radius < 100 || radius > 5000 || lon < -180 ||
      lon > 180 || lat < -90 || lat > 90 || utf8_chars(name) > MAX_FENCE_NAME_CHARS)
    return API_CODE_OUT_OF_RANGE;
  uint32_t dev;
  int rc = resolve_imei(c, imei, strlen(imei), &dev);
  if (rc) return rc;
  int64_t id = sim_fleet_geofence_add(c->api->fleet, dev, name, lon, lat, (int)radius,
                                      (int)alarmtype, c->present);
  if (id <= 0) return API_CODE_SYSTEM_ERROR;
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

/* paramData of SET_MILEAGE: {"mileage":"30"} (a number is accepted too). */
static bool parse_mileage_param(const char *s, int64_t *out) {
  cJSON *root = cJSON_Parse(s);
  bool ok = false;
  cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "mileage");
  if (cJSON_IsString(m)) ok = parse_i64(m->valuestring, out) && *out >= 0;
  else if (cJSON_IsNumber(m)) ok = m->valuedouble >= 0 && m->valuedouble < 1e12,
                              *out = (int64_t)m->valuedouble;
  cJSON_Delete(root);
  return ok;
}

static int ep_command_send(ctx_t *c) {
  sim_api_t *api = c->api;
  const char *imei = param(c, "imei"), *cmd = param(c, "command");
  if (!imei || !cmd) return API_CODE_MISSING_PARAMETER;
  while (*cmd == ' ') cmd++;
  size_t cl = strlen(cmd);
  while (cl && cmd[cl - 1] == ' ') cl--;
  int kind = -1;
  for (int k = 0; k < CMD_KINDS; k++)
    if (strlen(command_names[k]) == cl && strncmp(cmd, command_names[k], cl) == 0) kind = k;
  uint32_t dev;
  int rc = resolve_imei(c, imei, strlen(imei), &dev);
  if (rc) return rc;
  if (kind < 0) return API_CODE_UNSUPPORTED_COMMAND;
  int64_t mileage = 0;
  if (kind == CMD_SET_MILEAGE) {
    const char *pd = param(c, "paramData");
    if (!pd) return API_CODE_MISSING_PARAMETER;
    if (!parse_mileage_param(pd, &mileage)) return API_CODE_PARAMETER_ERROR;
  }
  sim_state_t s;
  if (sim_fleet_state(api->fleet, dev, c->present, &s) != 0) return API_CODE_SYSTEM_ERROR;
  if (s.datastatus == 3) return API_CODE_TARGET_EXPIRED;
  if (api->ncmds == api->cmd_cap) {
    size_t cap = api->cmd_cap ? api->cmd_cap * 2 : 64;
    command_t *p = realloc(api->cmds, cap * sizeof *p);
    if (!p) return API_CODE_SYSTEM_ERROR;
    api->cmds = p;
    api->cmd_cap = cap;
  }
  size_t idx = api->ncmds++;
  command_t *cm = &api->cmds[idx];
  *cm = (command_t){.dev = dev, .account = c->account, .kind = (uint8_t)kind,
                    .silent_queries = (uint8_t)(1 + mix64(api->opt.seed ^ idx) % 3),
                    .never = s.datastatus == 1 || s.datastatus == 4, .mileage = mileage};
  char id[24];
  snprintf(id, sizeof id, "%X", (unsigned)(api->cmd_base + idx));
  sim_json_lit(&c->j, "{\"code\":0,\"record\":{\"commandid\":");
  sim_json_string(&c->j, id);
  sim_json_lit(&c->j, "}}");
  return 0;
}

static int ep_command_query(ctx_t *c) {
  sim_api_t *api = c->api;
  const char *id = param(c, "commandid");
  if (!id) return API_CODE_MISSING_PARAMETER;
  char *end;
  unsigned long v = strtoul(id, &end, 16);
  if (*end || v < api->cmd_base || v - api->cmd_base >= api->ncmds) return API_CODE_TARGET_NOT_EXIST;
  command_t *cm = &api->cmds[v - api->cmd_base];
  if (!account_under(api, cm->account, c->account)) return API_CODE_TARGET_NOT_EXIST;
  cm->queries++;
  bool answered = !cm->never && cm->queries > cm->silent_queries;
  sim_json_lit(&c->j, "{\"code\":0,\"record\":{\"response\":");
  if (answered) {
    char text[128];
    if (cm->kind == CMD_SET_MILEAGE)
      snprintf(text, sizeof text, "%s Mileage: %lld km.", command_answers[cm->kind],
               (long long)cm->mileage);
    else
      snprintf(text, sizeof text, "%s", command_answers[cm->kind]);
    sim_json_string(&c->j, text);
  } else {
    sim_json_lit(&c->j, "\"\"");
  }
  sim_json_lit(&c->j, ",\"commandstatus\":");
  sim_json_int(&c->j, answered ? 1 : 0);
  sim_json_lit(&c->j, "}}");
  return 0;
}

static int ep_dispatch(ctx_t *c) {
  switch ((api_endpoint_t)c->ep) {
    case API_EP_TRACK: return ep_track(c);
    case API_EP_PLAYBACK: return ep_playback_or_alarms(c, false);
    case API_EP_ALARM_LIST: return ep_playback_or_alarms(c, true);
    case API_EP_GEOFENCE_CREATE: return ep_geofence_create(c);
    case API_EP_COMMAND_SEND: return ep_command_send(c);
    case API_EP_COMMAND_QUERY: return ep_command_query(c);
    case API_EP_DEVICE_LIST: return ep_device_list(c);
    case API_EP_USER_BLOCK: return ep_user_block(c, true);
    case API_EP_USER_UNBLOCK: return ep_user_block(c, false);
    case API_EP_USER_INFO: return ep_user_info(c);
    case API_EP_DEVICE_DETAIL: return ep_device_detail(c);
    case API_EP_MESSAGE_SEND: return ep_message_send(c);
    case API_EP_DEVICE_MILEAGE: return ep_mileage(c);
    case API_EP_USER_LIST: return ep_user_list(c);
    case API_EP_USER_PASSWORD_SET: return ep_password_set(c);
    default: return API_CODE_UNKNOWN_REQUEST;
  }
}

/* Every endpoint but authorization: the token, the account's state, the spacing,
 * then (if drawn) the revoke fault, then the endpoint itself. */
static int with_token(ctx_t *c, bool revoke) {
  sim_api_t *api = c->api;
  const char *tok = param(c, "access_token");
  if (!tok) return API_CODE_MISSING_PARAMETER;
  int rc = token_check(api, tok, &c->account);
  if (rc) return rc;
  if (api->acct[c->account].blocked) return API_CODE_ACCOUNT_BLOCKED;
  if (!rate_ok(api, c->account, c->ep)) return API_CODE_TOO_FREQUENT;
  if (revoke) {
    api->acct[c->account].revoked = true;
    api->st.faults[SIM_FAULT_REVOKE]++;
    return API_CODE_TOKEN_INVALID;
  }
  return ep_dispatch(c);
}

/* ---- the /sim/ endpoints ---- */

static void write_stats(sim_api_t *api, sim_json_t *j) {
  const stats_t *st = &api->st;
  int64_t present = sim_api_present(api);
  sim_json_lit(j, "{\"code\":0,\"present\":");
  sim_json_int(j, present);
  sim_json_lit(j, ",\"window_begin\":");
  sim_json_int(j, present - api->opt.history_s);
  sim_json_lit(j, ",\"requests\":{");
  uint64_t total = 0;
  for (int e = 0; e <= API_EP_COUNT; e++) {
    sim_json_string(j, e < API_EP_COUNT ? api_endpoint_key((api_endpoint_t)e) : "unknown");
    sim_json_lit(j, ":");
    sim_json_int(j, (int64_t)st->requests[e]);
    sim_json_lit(j, ",");
    total += st->requests[e];
  }
  sim_json_lit(j, "\"total\":");
  sim_json_int(j, (int64_t)total);
  sim_json_lit(j, "},\"responses\":{");
  bool first = true;
  for (size_t i = 0; i < NCODES; i++) {
    if (!st->responses[i]) continue;
    if (!first) sim_json_lit(j, ",");
    first = false;
    char key[16];
    snprintf(key, sizeof key, "%d", counted_codes[i]);
    sim_json_string(j, key);
    sim_json_lit(j, ":");
    sim_json_int(j, (int64_t)st->responses[i]);
  }
  sim_json_lit(j, "},\"http_status\":{\"500\":");
  sim_json_int(j, (int64_t)st->http500);
  sim_json_lit(j, ",\"502\":");
  sim_json_int(j, (int64_t)st->http502);
  sim_json_lit(j, "},\"faults\":{");
  total = 0;
  for (int f = 0; f < SIM_FAULT_COUNT; f++) {
    sim_json_string(j, sim_fault_name((sim_fault_t)f));
    sim_json_lit(j, ":");
    sim_json_int(j, (int64_t)st->faults[f]);
    sim_json_lit(j, ",");
    total += st->faults[f];
  }
  sim_json_lit(j, "\"total\":");
  sim_json_int(j, (int64_t)total);
  sim_json_lit(j, "},\"logins\":{\"accounts\":{");
  total = 0;
  first = true;
  for (size_t a = 0; a < api->naccounts; a++) {
    if (!api->acct[a].logins) continue;
    if (!first) sim_json_lit(j, ",");
    first = false;
    sim_json_string(j, sim_fleet_account(api->fleet, a)->account);
    sim_json_lit(j, ":");
    sim_json_int(j, (int64_t)api->acct[a].logins);
    total += api->acct[a].logins;
  }
  sim_json_lit(j, "},\"total\":");
  sim_json_int(j, (int64_t)total);
  sim_json_lit(j, "},\"records\":{\"playback\":");
  sim_json_int(j, (int64_t)st->records_playback);
  sim_json_lit(j, ",\"alarm\":");
  sim_json_int(j, (int64_t)st->records_alarm);
  sim_json_lit(j, "},\"nodata\":");
  sim_json_int(j, (int64_t)st->nodata);
  sim_json_lit(j, ",\"injected\":");
  sim_json_int(j, (int64_t)api->opt.inject.injected);
  sim_json_lit(j, "}");
}

static void handle_sim(sim_api_t *api, const sim_http_request_t *req, sim_http_response_t *resp,
                       sim_json_t *j) {
  if (strcmp(req->path, "/sim/stats") == 0) {
    write_stats(api, j);
  } else if (strcmp(req->path, "/sim/reset-stats") == 0 && strcmp(req->method, "POST") == 0) {
    memset(&api->st, 0, sizeof api->st);
    for (size_t a = 0; a < api->naccounts; a++) api->acct[a].logins = 0;
    sim_json_lit(j, "{\"code\":0}");
  } else {
    resp->status = 404;
    write_error(j, API_CODE_UNKNOWN_REQUEST);
  }
}

/* ---- the handler ---- */

static sim_fault_t fault_draw(sim_api_t *api) {
  if (!api->faults_on) return SIM_FAULT_NONE;
  double r = rng_next(api), acc = 0;
  for (int f = 0; f < SIM_FAULT_COUNT; f++) {
    acc += api->opt.fault_prob[f];
    if (r < acc) return (sim_fault_t)f;
  }
  return SIM_FAULT_NONE;
}

static void write_html_error(sim_api_t *api, sim_http_response_t *resp, sim_json_t *j, int status) {
  resp->status = status;
  resp->content_type = "text/html";
  const char *t = status == 502 ? "502 Bad Gateway" : "500 Internal Server Error";
  sim_json_lit(j, "<html>\r\n<head><title>");
  sim_json_raw(j, t, strlen(t));
  sim_json_lit(j, "</title></head>\r\n<body>\r\n<center><h1>");
  sim_json_raw(j, t, strlen(t));
  sim_json_lit(j, "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
  if (status == 502) api->st.http502++;
  else api->st.http500++;
}

/* "400 Bad Request" quoting the request line (parameters as received, decoded): the page
 * a proxy or WAF may send back, and the reason no excerpt of an error body can be shown
 * without masking. */
static void write_echo_error(sim_http_response_t *resp, sim_json_t *j, const sim_http_request_t *req) {
  resp->status = 400;
  resp->content_type = "text/html";
  sim_json_lit(j, "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
                  "<h1>Bad Request</h1>\r\n<p>Your request ");
  sim_json_raw(j, req->method, strlen(req->method));
  sim_json_lit(j, " ");
  sim_json_raw(j, req->path, strlen(req->path));
  for (size_t i = 0; i < req->nparams; i++) {
    sim_json_raw(j, i ? "&" : "?", 1);
    sim_json_raw(j, req->params[i].name, strlen(req->params[i].name));
    sim_json_lit(j, "=");
    sim_json_raw(j, req->params[i].value, strlen(req->params[i].value));
  }
  sim_json_lit(j, " HTTP/1.1 was rejected.</p>\r\n</body>\r\n</html>\r\n");
}

void sim_api_handle(void *arg, const sim_http_request_t *req, sim_http_response_t *resp) {
  sim_api_t *api = arg;
  ctx_t c = {.api = api, .req = req, .j = {resp->body, 0}};
  if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
    resp->status = 405;
    write_error(&c.j, API_CODE_UNKNOWN_REQUEST);
    goto out;
  }
  if (strncmp(req->path, "/sim/", 5) == 0) {
    handle_sim(api, req, resp, &c.j); /* never faulted nor counted */
    goto out;
  }
  if (strncmp(req->path, "/api/", 5) != 0) {
    resp->status = 404;
    write_error(&c.j, API_CODE_UNKNOWN_REQUEST);
    goto out;
  }
  c.ep = api_endpoint_find(req->path);
  api->st.requests[c.ep < 0 ? API_EP_COUNT : c.ep]++;
  sim_fault_t fault = fault_draw(api);
  int code;
  switch (fault) {
    case SIM_FAULT_HTTP500:
    case SIM_FAULT_HTTP502:
      api->st.faults[fault]++;
      write_html_error(api, resp, &c.j, fault == SIM_FAULT_HTTP500 ? 500 : 502);
      goto out;
    case SIM_FAULT_ECHO:
      api->st.faults[fault]++;
      write_echo_error(resp, &c.j, req);
      goto out;
    case SIM_FAULT_SYSERR:
    case SIM_FAULT_RATELIMIT:
      api->st.faults[fault]++;
      code = fault == SIM_FAULT_SYSERR ? API_CODE_SYSTEM_ERROR : API_CODE_TOO_FREQUENT;
      break;
    default:
      c.present = sim_api_present(api);
      if (c.ep < 0) code = API_CODE_UNKNOWN_REQUEST;
      else if (c.ep == API_EP_AUTHORIZATION) code = ep_authorization(&c);
      else code = with_token(&c, fault == SIM_FAULT_REVOKE);
  }
  if (code) {
    buf_reset(resp->body);
    c.j.err = 0;
    write_error(&c.j, code);
  }
  count_code(api, code);
  switch (fault) {
    case SIM_FAULT_SLOW:
      resp->delivery = SIM_HTTP_DELIVER_SLOW;
      resp->delay_ms = api->opt.slow_ms;
      break;
    case SIM_FAULT_TIMEOUT: resp->delivery = SIM_HTTP_DELIVER_NEVER; break;
    case SIM_FAULT_RESET: resp->delivery = SIM_HTTP_DELIVER_RESET; break;
    case SIM_FAULT_TRUNCATE: resp->delivery = SIM_HTTP_DELIVER_TRUNCATE; break;
    default: break;
  }
  if (resp->delivery != SIM_HTTP_DELIVER_NORMAL) api->st.faults[fault]++;
out:
  if (c.j.err) { /* out of memory while writing: a short answer that needs none */
    buf_free(resp->body);
    resp->status = 500;
    resp->content_type = "text/plain";
  }
}

sim_api_t *sim_api_new(sim_fleet_t *fleet, const sim_api_options_t *opt) {
  sim_api_t *api = calloc(1, sizeof *api);
  if (!api) return NULL;
  api->fleet = fleet;
  api->opt = *opt;
  if (api->opt.token_ttl_s <= 0) api->opt.token_ttl_s = 7200;
  if (!api->opt.slow_ms) api->opt.slow_ms = 2000;
  api->start_ns = uv_hrtime();
  api->rng = mix64(opt->seed ^ 0xfa0175ULL);
  api->cmd_base = 0x10000u + (uint32_t)(mix64(opt->seed) % 0xf0000u);
  for (int f = 0; f < SIM_FAULT_COUNT; f++)
    if (opt->fault_prob[f] > 0) api->faults_on = true;
  api->naccounts = sim_fleet_account_count(fleet);
  api->acct = calloc(api->naccounts ? api->naccounts : 1, sizeof *api->acct);
  api->last_ns = calloc((api->naccounts ? api->naccounts : 1) * API_EP_COUNT, sizeof *api->last_ns);
  if (!api->acct || !api->last_ns) goto fail;
  for (size_t a = 0; a < api->naccounts; a++) {
    const char *pw = sim_fleet_account(fleet, a)->password;
    if (api_md5_hex(pw, strlen(pw), api->acct[a].pw_md5) != 0) goto fail;
  }
  return api;
fail:
  sim_api_free(api);
  return NULL;
}

void sim_api_free(sim_api_t *api) {
  if (!api) return;
  free(api->acct);
  free(api->last_ns);
  free(api->cmds);
  free(api->states);
  free(api);
}
