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
 *    string and/or a form body).
 * This file: the handler, tokens and rate limits, the helpers every endpoint uses, the
 * /sim/ endpoints; the endpoints themselves are in sim_api_history.c and
 * sim_api_accounts.c (sim_api_int.h). */
#include "sim/sim_api.h"

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
#include "util/grow.h"
#include "util/log.h"

#include "sim/sim_api_int.h"

const char *const simapi__command_names[CMD_KINDS] = {
  "RELAY,1", "RELAY,0", "RESET", "LOCKDOOR", "UNLOCKDOOR", "SET_MILEAGE",
};
const char *const simapi__command_answers[CMD_KINDS] = {
  "Cut off the fuel supply: Success!", "Restore the fuel supply: Success!",
  "Reset: Success!", "Lock door: Success!", "Unlock door: Success!", "Set mileage: Success!",
};

/* ---- small helpers ---- */

uint64_t simapi__mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double rng_next(sim_api_t *api) {
  api->rng += 0x9e3779b97f4a7c15ULL;
  return (double)(simapi__mix64(api->rng) >> 11) * (1.0 / 9007199254740992.0);
}

int64_t sim_api_present(const sim_api_t *api) {
  double el = (double)(uv_hrtime() - api->start_ns) / 1e9;
  return api->opt.present + (int64_t)floor(el * api->opt.speed);
}

/* A parameter's value, or NULL when it is absent or empty (both count as missing). */
const char *simapi__param(const ctx_t *c, const char *name) {
  const char *v = sim_http_request_param(c->req, name);
  return v && *v ? v : NULL;
}

/* Strict decimal integer: optional '-', digits, nothing else. */
bool simapi__parse_i64(const char *s, int64_t *out) {
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

bool simapi__parse_double(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v)) return false;
  *out = v;
  return true;
}

size_t simapi__utf8_chars(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) n++;
  return n;
}

/* Is account a equal to anc or below it? */
bool simapi__account_under(const sim_api_t *api, uint32_t a, uint32_t anc) {
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
int simapi__resolve_account(const ctx_t *c, const char *name, bool optional, bool strict,
                           uint32_t *out) {
  const char *v = simapi__param(c, name);
  if (!v) {
    if (!optional) return API_CODE_MISSING_PARAMETER;
    *out = c->account;
    return 0;
  }
  int32_t a = sim_fleet_account_find(c->api->fleet, v);
  if (a < 0) return API_CODE_TARGET_NOT_EXIST;
  if (!simapi__account_under(c->api, (uint32_t)a, c->account)) return API_CODE_PERMISSION_DENIED;
  if (strict && (uint32_t)a == c->account) return API_CODE_PERMISSION_DENIED;
  *out = (uint32_t)a;
  return 0;
}

/* A device IMEI the token may see: 0, 10013 (unknown or not under the account). */
int simapi__resolve_imei(const ctx_t *c, const char *imei, size_t n, uint32_t *dev) {
  char tmp[32];
  if (n == 0) return API_CODE_PARAMETER_ERROR;
  if (n >= sizeof tmp) return API_CODE_IMEI_NOT_AUTHORIZED;
  memcpy(tmp, imei, n);
  tmp[n] = '\0';
  int64_t d = sim_fleet_device_find(c->api->fleet, tmp);
  if (d < 0) return API_CODE_IMEI_NOT_AUTHORIZED;
  const sim_device_t *dv = sim_fleet_device(c->api->fleet, (size_t)d);
  if (!simapi__account_under(c->api, dv->account, c->account)) return API_CODE_IMEI_NOT_AUTHORIZED;
  *dev = (uint32_t)d;
  return 0;
}

/* The comma-separated `imeis`: 10005, 10004 (empty item), 10006 (>100), 10013. */
int simapi__resolve_imeis(const ctx_t *c, uint32_t devs[MAX_IMEIS], size_t *n) {
  const char *v = simapi__param(c, "imeis");
  if (!v) return API_CODE_MISSING_PARAMETER;
  size_t count = 1;
  for (const char *p = v; *p; p++) count += *p == ',';
  if (count > MAX_IMEIS) return API_CODE_OUT_OF_RANGE;
  *n = 0;
  const char *s = v;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    int rc = simapi__resolve_imei(c, s, len, &devs[*n]);
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
  uint64_t a = (((uint64_t)account << 32) | serial) ^ simapi__mix64(api->opt.token_seed ^ 0x70c3e17a11ULL);
  uint64_t b = simapi__mix64(api->opt.token_seed ^ (a * 0x2545f4914f6cdd1dULL));
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
  if (b != simapi__mix64(api->opt.token_seed ^ (a * 0x2545f4914f6cdd1dULL))) return API_CODE_TOKEN_NOT_EXIST;
  uint64_t v = a ^ simapi__mix64(api->opt.token_seed ^ 0x70c3e17a11ULL);
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
  const char *ts = simapi__param(c, "time"), *name = simapi__param(c, "account"), *sig = simapi__param(c, "signature");
  if (!ts || !name || !sig) return API_CODE_MISSING_PARAMETER;
  int64_t t;
  if (!simapi__parse_i64(ts, &t)) return API_CODE_PARAMETER_ERROR;
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


/* "No data", in the form --nodata chooses: 20023 is returned as the error code it is;
 * the others replace whatever was written with a code 0 answer. */
int simapi__no_data(ctx_t *c) {
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


static int ep_dispatch(ctx_t *c) {
  switch ((api_endpoint_t)c->ep) {
    case API_EP_TRACK: return simapi__ep_track(c);
    case API_EP_PLAYBACK: return simapi__ep_playback_or_alarms(c, false);
    case API_EP_ALARM_LIST: return simapi__ep_playback_or_alarms(c, true);
    case API_EP_GEOFENCE_CREATE: return simapi__ep_geofence_create(c);
    case API_EP_COMMAND_SEND: return simapi__ep_command_send(c);
    case API_EP_COMMAND_QUERY: return simapi__ep_command_query(c);
    case API_EP_DEVICE_LIST: return simapi__ep_device_list(c);
    case API_EP_USER_BLOCK: return simapi__ep_user_block(c, true);
    case API_EP_USER_UNBLOCK: return simapi__ep_user_block(c, false);
    case API_EP_USER_INFO: return simapi__ep_user_info(c);
    case API_EP_DEVICE_DETAIL: return simapi__ep_device_detail(c);
    case API_EP_MESSAGE_SEND: return simapi__ep_message_send(c);
    case API_EP_DEVICE_MILEAGE: return simapi__ep_mileage(c);
    case API_EP_USER_LIST: return simapi__ep_user_list(c);
    case API_EP_USER_PASSWORD_SET: return simapi__ep_password_set(c);
    default: return API_CODE_UNKNOWN_REQUEST;
  }
}

/* Every endpoint but authorization: the token, the account's state, the spacing,
 * then (if drawn) the revoke fault, then the endpoint itself. */
static int with_token(ctx_t *c, bool revoke) {
  sim_api_t *api = c->api;
  const char *tok = simapi__param(c, "access_token");
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
  api->rng = simapi__mix64(opt->seed ^ 0xfa0175ULL);
  api->cmd_base = 0x10000u + (uint32_t)(simapi__mix64(opt->seed) % 0xf0000u);
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

