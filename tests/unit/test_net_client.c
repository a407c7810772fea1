/* Loop tests for net/client against an in-process fake of the Open API (logins with
 * md5 signatures and request time checks, one current token per account, a rate limit,
 * scripted faults): single-flight re-login, refresh, 10009, retries, stopped accounts,
 * clock skew, cancellation. Every test ends with uv_loop_close() == 0. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/sign.h"
#include "net/client.h"
#include "net/http.h"
#include "test_net_server.h"

#define FAKE_ACCOUNTS 2
static const char *const account_names[FAKE_ACCOUNTS] = {"alpha", "beta ü"};
static const char *const passwords[FAKE_ACCOUNTS] = {"Abc@34590", "other"};

typedef struct fake_api {
  uv_loop_t *loop;
  int64_t skew;                 /* server clock - real clock, seconds */
  int64_t expires_in;
  char token[FAKE_ACCOUNTS][32];
  int logins[FAKE_ACCOUNTS];        /* tokens issued */
  int login_requests[FAKE_ACCOUNTS];
  int token_errors;             /* 10011 answers */
  int track_requests;
  int revoke_after;             /* revoke the token when track request #n arrives; 0: never */
  uint64_t track_spacing_ms;    /* 10009 when an account's track calls come closer */
  uint64_t last_track[FAKE_ACCOUNTS];
  int throttled;                /* 10009 answers */
  uint64_t track_delay_ms;
  const char *faults[16];       /* applied to the next track requests, one each */
  int n_faults, next_fault;
  bool always_500;
  int api_code;                 /* answer track with this code instead of 0 */
  const char *track_body;       /* answer track with this body (code 0) */
  bool reject_tokens;           /* every token is refused (another process logs in) */
  int post_requests;            /* POSTs that reached the server (a write acts once each) */
} fake_api_t;

static int fake_account(const char *name) {
  for (int i = 0; i < FAKE_ACCOUNTS; i++)
    if (strcmp(name, account_names[i]) == 0) return i;
  return -1;
}

static char *json_code(int code) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, "{\"code\":%d,\"message\":\"\"}", code);
  return ts_strdup(tmp);
}

static void percent_decode(char *s) {
  char *o = s;
  for (; *s; s++) {
    if (*s == '%' && s[1] && s[2]) {
      char hex[3] = {s[1], s[2], 0};
      *o++ = (char)strtol(hex, NULL, 16);
      s += 2;
    } else {
      *o++ = *s;
    }
  }
  *o = '\0';
}

static void fake_handler(void *arg, const char *method, const char *target, ts_reply_t *out) {
  fake_api_t *f = arg;
  out->date_offset = f->skew;
  int64_t server_now = (int64_t)time(NULL) + f->skew;
  if (strncmp(target, "/api/authorization?", 19) == 0) {
    char t[32] = "", account[128] = "", sig[64] = "";
    ts_param(target, "time", t, sizeof t);
    ts_param(target, "account", account, sizeof account);
    ts_param(target, "signature", sig, sizeof sig);
    percent_decode(account);
    int i = fake_account(account);
    if (i < 0) {
      out->body = json_code(API_CODE_BAD_CREDENTIALS);
      return;
    }
    f->login_requests[i]++;
    char md5[33], expect[33];
    int64_t when = strtoll(t, NULL, 10);
    assert_int_equal(api_md5_hex(passwords[i], strlen(passwords[i]), md5), 0);
    assert_int_equal(api_signature(md5, when, expect), 0);
    if (strcmp(sig, expect) != 0) {
      out->body = json_code(API_CODE_BAD_CREDENTIALS);
    } else if (when < server_now - 300 || when > server_now + 300) {
      out->body = json_code(API_CODE_TIME_ERROR);
    } else {
      f->logins[i]++;
      snprintf(f->token[i], sizeof f->token[i], "tok-%d-%d", i, f->logins[i]);
      char body[160];
      snprintf(body, sizeof body, "{\"record\":{\"access_token\":\"%s\",\"expires_in\":%" PRId64 "},\"code\":0}",
               f->token[i], f->expires_in);
      out->body = ts_strdup(body);
    }
    return;
  }
  if (strcmp(method, "POST") == 0) f->post_requests++;
  char token[64] = "";
  ts_param(target, "access_token", token, sizeof token);
  int i = -1;
  for (int k = 0; k < FAKE_ACCOUNTS; k++)
    if (token[0] && strcmp(token, f->token[k]) == 0) i = k;
  if (strncmp(target, "/api/track?", 11) == 0) {
    f->track_requests++;
    if (f->revoke_after && f->track_requests == f->revoke_after)
      for (int k = 0; k < FAKE_ACCOUNTS; k++) f->token[k][0] = '\0'; /* revoked: 10011 */
    if (f->revoke_after && f->track_requests >= f->revoke_after && i >= 0 && f->logins[i] == 1) i = -1;
  }
  if (i < 0 || f->reject_tokens) {
    f->token_errors++;
    out->body = json_code(API_CODE_TOKEN_INVALID);
    return;
  }
  if (f->next_fault < f->n_faults) {
    const char *fault = f->faults[f->next_fault++];
    if (strcmp(fault, "http500") == 0) {
      out->status = 500;
      out->body = ts_strdup("internal error");
    } else if (strcmp(fault, "http502") == 0) {
      out->status = 502;
      out->content_type = "text/html";
      out->body = ts_strdup("<html><head><title>502 Bad Gateway</title></head></html>");
    } else if (strcmp(fault, "html200") == 0) {
      out->content_type = "text/html";
      out->body = ts_strdup("<html><body>maintenance</body></html>");
    } else if (strcmp(fault, "truncate") == 0) {
      out->action = TS_TRUNCATE;
      out->body = ts_strdup("{\"code\":0,\"record\":[{\"imei\":\"1\"}]}");
    } else if (strcmp(fault, "badjson") == 0) {
      out->body = ts_strdup("{\"code\":0,\"record\":[{\"imei\":\"1\"}");
    } else if (strcmp(fault, "reset") == 0) {
      out->action = TS_RESET;
    } else if (strcmp(fault, "close") == 0) {
      out->action = TS_CLOSE;
    } else if (strcmp(fault, "hang") == 0) {
      out->action = TS_HANG;
    } else if (strcmp(fault, "syserr") == 0) {
      out->body = json_code(API_CODE_SYSTEM_ERROR);
    } else if (strcmp(fault, "slow") == 0) {
      out->delay_ms = 50;
      out->body = json_code(0);
    } else if (strcmp(fault, "http429") == 0) {
      out->status = 429;
      out->body = ts_strdup("Too Many Requests");
    } else if (strcmp(fault, "throttle") == 0) {
      out->body = json_code(API_CODE_TOO_FREQUENT);
    } else if (strcmp(fault, "tokenerr") == 0) {
      f->token_errors++;
      out->body = json_code(API_CODE_TOKEN_INVALID);
    } else if (strcmp(fault, "blocked") == 0) {
      out->body = json_code(API_CODE_ACCOUNT_BLOCKED);
    } else {
      fail_msg("unknown fault %s", fault);
    }
    return;
  }
  if (f->always_500) {
    out->status = 500;
    out->body = ts_strdup("down");
    return;
  }
  if (f->track_spacing_ms) {
    uint64_t now = uv_now(f->loop);
    if (f->last_track[i] && now - f->last_track[i] < f->track_spacing_ms) {
      f->throttled++;
      out->body = json_code(API_CODE_TOO_FREQUENT);
      return;
    }
    f->last_track[i] = now;
  }
  if (f->api_code) {
    out->body = json_code(f->api_code);
    return;
  }
  out->delay_ms = f->track_delay_ms;
  if (f->track_body) {
    out->body = ts_strdup(f->track_body);
    return;
  }
  out->body = ts_strdup("{\"code\":0,\"record\":[{\"imei\":\"358899051025339\"}]}");
}

typedef struct fixture {
  uv_loop_t loop;
  testsrv_t srv;
  fake_api_t api;
  netc_t *netc;
  netc_account_t *acct[FAKE_ACCOUNTS];
  int done, ok, closed;
  int by_error[16];
  int last_code;
  int no_data;                  /* NET_OK answers with no_data */
  unsigned max_attempts;
  char last_message[512];
  char last_body[256];
} fixture_t;

static void setup(fixture_t *f, netc_options_t *opt, const char *beta_password) {
  memset(f, 0, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->api.loop = &f->loop;
  if (!f->api.expires_in) f->api.expires_in = 7200;
  assert_int_equal(testsrv_start(&f->srv, &f->loop, fake_handler, &f->api), 0);
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", f->srv.port);
  opt->base_url = base;
  if (!opt->retry_base_ms) opt->retry_base_ms = 5;
  if (!opt->retry_max_ms) opt->retry_max_ms = 50;
  f->netc = netc_new(&f->loop, opt);
  assert_non_null(f->netc);
  char md5[33];
  assert_int_equal(api_md5_hex(passwords[0], strlen(passwords[0]), md5), 0);
  f->acct[0] = netc_account_add(f->netc, account_names[0], md5);
  assert_non_null(f->acct[0]);
  const char *pw = beta_password ? beta_password : passwords[1];
  assert_int_equal(api_md5_hex(pw, strlen(pw), md5), 0);
  f->acct[1] = netc_account_add(f->netc, account_names[1], md5);
  assert_non_null(f->acct[1]);
  assert_null(netc_account_add(f->netc, "x", "not-an-md5"));
}

static void on_closed(void *arg) { ((fixture_t *)arg)->closed = 1; }

static void teardown(fixture_t *f) {
  netc_close(f->netc, on_closed, f);
  testsrv_close(&f->srv);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(f->closed, 1);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void cb_response(void *arg, const net_result_t *res) {
  fixture_t *f = arg;
  f->done++;
  if (res->error == NET_OK) f->ok++;
  if (res->no_data) f->no_data++;
  assert_true(!res->no_data || (res->error == NET_OK && res->code == 0));
  f->by_error[res->error]++;
  f->last_code = res->code;
  if (res->attempts > f->max_attempts) f->max_attempts = res->attempts;
  snprintf(f->last_message, sizeof f->last_message, "%s", res->message);
  snprintf(f->last_body, sizeof f->last_body, "%.*s", (int)res->body_len, res->body);
  assert_non_null(res->account);
}

static void call_track(fixture_t *f, int account) {
  api_request_t req = {0};
  const char *imeis[] = {"358899051025339", "355139000000234"};
  assert_int_equal(api_request_track(&req, imeis, 2), 0);
  int before = f->done;
  assert_int_equal(netc_call(f->netc, f->acct[account], &req, cb_response, f), 0);
  assert_null(req.params); /* taken over */
  api_request_free(&req);
  assert_int_equal(f->done, before);
}

/* A write: POST /api/user/block. */
static void call_block(fixture_t *f, int account) {
  api_request_t req = {0};
  assert_int_equal(api_request_user_block(&req, "driver7"), 0);
  assert_int_equal(req.method, API_METHOD_POST);
  assert_int_equal(netc_call(f->netc, f->acct[account], &req, cb_response, f), 0);
  api_request_free(&req);
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* UV_RUN_ONCE may block in poll after the last timer fired: a tick bounds each turn. */
static void run_until(fixture_t *f, int done) {
  uint64_t t0 = uv_now(&f->loop);
  uv_timer_t tick;
  uv_timer_init(&f->loop, &tick);
  uv_timer_start(&tick, on_tick, 20, 20);
  while (f->done < done) {
    uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(uv_now(&f->loop) - t0 < 20000);
  }
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* (a) The token dies with 50 requests in flight: one login, everything succeeds. */
static void test_token_death_one_login(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.http.max_in_flight = 64};
  setup(&f, &opt, NULL);
  f.api.track_delay_ms = 20;
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.api.logins[0], 1);
  f.api.revoke_after = f.api.track_requests + 10;
  for (int i = 0; i < 50; i++) call_track(&f, 0);
  run_until(&f, 51);
  assert_int_equal(f.ok, 51);
  assert_int_equal(f.api.logins[0], 2);
  assert_int_equal(f.api.login_requests[0], 2);
  assert_true(f.api.token_errors >= 10);
  const netc_stats_t *st = netc_stats(f.netc);
  assert_int_equal(st->logins, 2);
  assert_int_equal(st->token_replays, (uint64_t)f.api.token_errors);
  assert_int_equal(st->succeeded[API_EP_TRACK], 51);
  assert_int_equal(st->sent[API_EP_AUTHORIZATION], 2);
  teardown(&f);
}

static void on_wait(uv_timer_t *t) { (void)t; }

static void on_second_closed(void *arg) { (*(int *)arg)++; }

/* Two clients sharing a token store (two processes on one host, here two netc on one
 * loop: flock excludes per open file): the second adopts the first's token without a
 * login; when the first's token dies and it logs in again, the second's old token fails
 * and it adopts the new one instead of logging in (no ping-pong). */
static void test_token_store_shared(void **state) {
  (void)state;
  char dir[64];
  snprintf(dir, sizeof dir, "/tmp/fa-netc-store.XXXXXX");
  assert_non_null(mkdtemp(dir));
  fixture_t f;
  netc_options_t opt = {.token_dir = dir};
  setup(&f, &opt, NULL);
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.api.logins[0], 1);

  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", f.srv.port);
  opt.base_url = base; /* setup's was a local of its own */
  netc_t *second = netc_new(&f.loop, &opt);
  assert_non_null(second);
  char md5[33];
  assert_int_equal(api_md5_hex(passwords[0], strlen(passwords[0]), md5), 0);
  netc_account_t *a2 = netc_account_add(second, account_names[0], md5);
  assert_non_null(a2);
  api_request_t req = {0};
  const char *imeis[] = {"358899051025339"};
  assert_int_equal(api_request_track(&req, imeis, 1), 0);
  assert_int_equal(netc_call(second, a2, &req, cb_response, &f), 0);
  run_until(&f, 2);
  assert_int_equal(f.ok, 2);
  assert_int_equal(f.api.logins[0], 1); /* adopted */
  assert_int_equal(netc_stats(second)->tokens_adopted, 1);
  assert_int_equal(netc_stats(second)->sent[API_EP_AUTHORIZATION], 0);

  /* the first client's token dies (revoked): it logs in again and stores tok 2 */
  f.api.revoke_after = f.api.track_requests + 1;
  call_track(&f, 0);
  run_until(&f, 3);
  assert_int_equal(f.ok, 3);
  assert_int_equal(f.api.logins[0], 2);
  /* the second's tok 1 is refused now: it takes tok 2 from the store, no login */
  assert_int_equal(api_request_track(&req, imeis, 1), 0);
  int errors_before = f.api.token_errors;
  assert_int_equal(netc_call(second, a2, &req, cb_response, &f), 0);
  run_until(&f, 4);
  assert_int_equal(f.ok, 4);
  assert_int_equal(f.api.token_errors, errors_before + 1);
  assert_int_equal(f.api.logins[0], 2);
  assert_int_equal(f.api.login_requests[0], 2);
  assert_int_equal(netc_stats(second)->tokens_adopted, 2);
  assert_int_equal(netc_stats(f.netc)->tokens_adopted, 0);

  int second_closed = 0;
  netc_close(second, on_second_closed, &second_closed);
  teardown(&f);
  assert_int_equal(second_closed, 1);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* A token_dir that cannot be used (a file) costs a warning, not the logins. */
static void test_token_store_unusable(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.token_dir = "/dev/null"};
  setup(&f, &opt, NULL);
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.api.logins[0], 1);
  teardown(&f);
}

/* The token is renewed at the refresh fraction of expires_in, before the server kills
 * it, and in-flight requests with the old token are replayed without another login. */
static void test_refresh_before_expiry(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.token_refresh_fraction = 0.5};
  setup(&f, &opt, NULL);
  f.api.expires_in = 1; /* refresh after 500 ms */
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.api.logins[0], 1);
  uv_timer_t wait;
  uv_timer_init(&f.loop, &wait);
  uv_timer_start(&wait, on_wait, 600, 0);
  uv_run(&f.loop, UV_RUN_ONCE);
  call_track(&f, 0);
  call_track(&f, 0);
  run_until(&f, 3);
  assert_int_equal(f.ok, 3);
  assert_int_equal(f.api.logins[0], 2);
  assert_int_equal(f.api.token_errors, 0);
  uv_close((uv_handle_t *)&wait, NULL);
  teardown(&f);
}

/* Fresh tokens refused at once, again and again (a login loop): logins back off and
 * stop after max_fruitless_logins; the calls fail with the token error. */
static void test_login_loop_bounded(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.max_fruitless_logins = 3};
  setup(&f, &opt, NULL);
  f.api.reject_tokens = true;
  for (int i = 0; i < 5; i++) call_track(&f, 0);
  run_until(&f, 5);
  assert_int_equal(f.by_error[NET_ERR_API], 5);
  assert_int_equal(f.last_code, API_CODE_TOKEN_INVALID);
  assert_int_equal(f.api.logins[0], 4);
  /* a working token resets the count */
  f.api.reject_tokens = false;
  call_track(&f, 0);
  run_until(&f, 6);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.api.logins[0], 5); /* the dead token was dropped: a new login */
  teardown(&f);
}

/* (b) A 10009 storm: the lane widens, every call completes, nothing fails. */
static void test_throttle_storm_completes(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.pacing = {.widen_min_ms = 40, .max_spacing_ms = 400}};
  setup(&f, &opt, NULL);
  f.api.track_spacing_ms = 30;
  for (int i = 0; i < 12; i++) call_track(&f, 0);
  run_until(&f, 12);
  assert_int_equal(f.ok, 12);
  assert_true(f.api.throttled > 0);
  const netc_stats_t *st = netc_stats(f.netc);
  assert_int_equal(st->throttled, (uint64_t)f.api.throttled);
  assert_int_equal(st->failed[API_EP_TRACK], 0);
  /* the first burst of 12 gets 11 refusals; after that the widened lane keeps
   * refusals rare (a blind resend would collect them without end) */
  assert_true(f.api.throttled >= 11 && f.api.throttled < 24);
  assert_int_equal(f.api.track_requests, 12 + f.api.throttled);
  /* success narrows it back towards the floor (0), but it was widened */
  assert_true(netc_spacing(f.netc, f.acct[0], API_EP_TRACK) < 400);
  teardown(&f);
}

/* (c) Each transient fault kind is retried and the call succeeds. */
static void test_transient_faults_retried(void **state) {
  (void)state;
  static const char *const kinds[] = {"http500", "http502", "html200", "truncate", "badjson",
                                      "reset",   "hang",    "syserr",  "slow"};
  fixture_t f;
  netc_options_t opt = {.http.timeout_ms = 200};
  setup(&f, &opt, NULL);
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    f.api.faults[f.api.n_faults++] = kinds[k];
    int before = f.done;
    uint64_t retries = netc_stats(f.netc)->retries;
    call_track(&f, 0);
    run_until(&f, before + 1);
    assert_int_equal(f.ok, before + 1);
    if (strcmp(kinds[k], "slow") != 0) {
      assert_int_equal(netc_stats(f.netc)->retries, retries + 1);
      assert_int_equal(f.max_attempts, 2);
    }
    f.max_attempts = 0;
  }
  assert_int_equal(f.api.next_fault, f.api.n_faults);
  teardown(&f);
}

/* Retries are bounded; the final error reaches the callback once. */
static void test_retries_exhausted(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.retry_max_attempts = 3};
  setup(&f, &opt, NULL);
  call_track(&f, 0);
  run_until(&f, 1);
  f.api.always_500 = true;
  call_track(&f, 0);
  run_until(&f, 2);
  assert_int_equal(f.by_error[NET_ERR_HTTP], 1);
  assert_int_equal(f.max_attempts, 3);
  assert_non_null(strstr(f.last_message, "HTTP 500"));
  assert_non_null(strstr(f.last_message, "after 3 attempts"));
  assert_int_equal(netc_stats(f.netc)->failed[API_EP_TRACK], 1);
  teardown(&f);
}

/* (d) A wrong password stops that account (one login attempt, every call fails with
 * 20001) while the other account works. */
static void test_bad_credentials_stop_one_account(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, "wrong password");
  for (int i = 0; i < 3; i++) call_track(&f, 1);
  for (int i = 0; i < 3; i++) call_track(&f, 0);
  run_until(&f, 6);
  assert_int_equal(f.ok, 3);
  assert_int_equal(f.by_error[NET_ERR_ACCOUNT], 3);
  assert_int_equal(f.api.login_requests[1], 1);
  assert_int_equal(netc_account_stopped(f.acct[1]), API_CODE_BAD_CREDENTIALS);
  assert_int_equal(netc_account_stopped(f.acct[0]), 0);
  /* later calls fail at once, without another login */
  call_track(&f, 1);
  run_until(&f, 7);
  assert_int_equal(f.last_code, API_CODE_BAD_CREDENTIALS);
  assert_non_null(strstr(f.last_message, "stopped"));
  assert_int_equal(f.api.login_requests[1], 1);
  teardown(&f);
}

/* 10016 on a call stops the account too. */
static void test_blocked_account_stops(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  f.api.faults[f.api.n_faults++] = "blocked";
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.by_error[NET_ERR_ACCOUNT], 1);
  assert_int_equal(netc_account_stopped(f.acct[0]), API_CODE_ACCOUNT_BLOCKED);
  call_track(&f, 1);
  run_until(&f, 2);
  assert_int_equal(f.ok, 1);
  teardown(&f);
}

/* (e) The server's clock is an hour ahead: the first login gets 10014, the offset is
 * learned from the Date header, the second login succeeds. */
static void test_clock_skew_learned(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  f.api.skew = 3600;
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.api.login_requests[0], 2);
  assert_int_equal(f.api.logins[0], 1);
  int64_t off = netc_clock_offset(f.netc);
  assert_true(off >= 3598 && off <= 3602);
  teardown(&f);
}

/* Other codes are the caller's to judge: 10013 comes back with its body. */
static void test_api_code_passed_through(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  f.api.api_code = API_CODE_IMEI_NOT_AUTHORIZED;
  call_track(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.by_error[NET_ERR_API], 1);
  assert_int_equal(f.last_code, API_CODE_IMEI_NOT_AUTHORIZED);
  assert_non_null(strstr(f.last_body, "10013"));
  assert_int_equal(f.no_data, 0);
  teardown(&f);
}

/* "No data" in each form is a success with no_data set, decided by the codec: 20023
 * and code 0 with the record missing, null, "" or []; counted as empty, not as failed
 * nor succeeded. A record with data is not "no data". */
static void test_no_data_is_ok(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  static const char *const forms[] = {"{\"code\":0}", "{\"code\":0,\"record\":null}",
                                      "{\"code\":0,\"record\":\"\"}", "{\"code\":0,\"record\":[]}"};
  f.api.api_code = API_CODE_NO_DATA;
  call_track(&f, 0);
  run_until(&f, 1);
  f.api.api_code = 0;
  for (int i = 0; i < 4; i++) {
    f.api.track_body = forms[i];
    call_track(&f, 0);
    run_until(&f, 2 + i);
  }
  assert_int_equal(f.ok, 5);
  assert_int_equal(f.no_data, 5);
  assert_int_equal(f.last_code, 0);
  f.api.track_body = NULL;
  call_track(&f, 0);
  run_until(&f, 6);
  assert_int_equal(f.ok, 6);
  assert_int_equal(f.no_data, 5);
  const netc_stats_t *st = netc_stats(f.netc);
  assert_int_equal(st->empty[API_EP_TRACK], 5);
  assert_int_equal(st->succeeded[API_EP_TRACK], 1);
  assert_int_equal(st->failed[API_EP_TRACK], 0);
  teardown(&f);
}

/* netc_call_decode: the caller's parser runs once per answer (the body goes through
 * cJSON once) and its envelope verdict classifies the answer as netc's own check would:
 * a bad body is retried, 10009 waits, a token error is replayed; a bad record is NET_OK
 * with decoded set and the parser's message; 20023 is "no data" with an empty result. */
typedef struct decode_ctx {
  fixture_t *f;
  api_tracks_t tracks;
  int calls;
  int decoded;
  size_t n;
  char message[256];
} decode_ctx_t;

static int decode_track(void *arg, const char *body, size_t len, api_error_t *err) {
  decode_ctx_t *d = arg;
  d->calls++;
  return api_parse_track(body, len, &d->tracks, err);
}

static void cb_decoded(void *arg, const net_result_t *res) {
  decode_ctx_t *d = arg;
  d->decoded = res->decoded;
  d->n = d->tracks.n;
  snprintf(d->message, sizeof d->message, "%s", res->decode_message);
  cb_response(d->f, res);
}

static void test_decoder_parses_once(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  decode_ctx_t d = {.f = &f};
  const char *imeis[] = {"358899051025339"};
  f.api.faults[f.api.n_faults++] = "badjson";
  f.api.faults[f.api.n_faults++] = "throttle";
  f.api.faults[f.api.n_faults++] = "tokenerr";
  api_request_t req = {0};
  assert_int_equal(api_request_track(&req, imeis, 1), 0);
  assert_int_equal(netc_call_decode(f.netc, f.acct[0], &req, decode_track, cb_decoded, &d), 0);
  run_until(&f, 1);
  /* the fake's record lacks the required fields: a bad record, not a bad body */
  assert_int_equal(f.ok, 1);
  assert_int_equal(d.calls, 4);
  assert_int_equal(d.decoded, -EBADMSG);
  assert_string_equal(d.message, "record[0].servertime: missing");
  assert_int_equal(netc_stats(f.netc)->retries, 1);
  assert_int_equal(netc_stats(f.netc)->throttled, 1);
  assert_int_equal(netc_stats(f.netc)->token_replays, 1);
  f.api.track_body = "{\"code\":20023,\"message\":\"No Data.\"}";
  assert_int_equal(api_request_track(&req, imeis, 1), 0);
  assert_int_equal(netc_call_decode(f.netc, f.acct[0], &req, decode_track, cb_decoded, &d), 0);
  run_until(&f, 2);
  assert_int_equal(f.ok, 2);
  assert_int_equal(f.no_data, 1);
  assert_int_equal(d.calls, 5);
  assert_int_equal(d.decoded, 0);
  assert_int_equal(d.n, 0);
  assert_string_equal(d.message, "");
  f.api.track_body = NULL;
  f.api.api_code = API_CODE_IMEI_NOT_AUTHORIZED;
  assert_int_equal(api_request_track(&req, imeis, 1), 0);
  assert_int_equal(netc_call_decode(f.netc, f.acct[0], &req, decode_track, cb_decoded, &d), 0);
  run_until(&f, 3);
  assert_int_equal(f.by_error[NET_ERR_API], 1);
  assert_int_equal(f.last_code, API_CODE_IMEI_NOT_AUTHORIZED);
  assert_int_equal(d.calls, 6);
  assert_int_equal(d.decoded, 0);
  api_tracks_free(&d.tracks);
  teardown(&f);
}

/* A POST whose connection dies after the server read it (RST, or a clean close before
 * any answer byte) may have been acted on: it is not sent again, neither by curl (it
 * resends a request whose REUSED keep-alive connection closed that way, and the login
 * and a track call left one in its cache) nor by netc, and it fails with the network
 * error. A GET in the same spot is sent again and succeeds. */
static void test_post_reset_not_resent(void **state) {
  (void)state;
  static const char *const kinds[] = {"reset", "close"};
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  for (size_t k = 0; k < 2; k++) {
    call_track(&f, 0); /* (logs in and) leaves a keep-alive connection in curl's cache */
    run_until(&f, f.done + 1);
    assert_int_equal(f.ok, (int)k * 2 + 1);
    uint64_t retries = netc_stats(f.netc)->retries;
    int posts = f.api.post_requests, errors = f.by_error[NET_ERR_NETWORK];
    f.api.faults[f.api.n_faults++] = kinds[k];
    f.max_attempts = 0;
    call_block(&f, 0);
    run_until(&f, f.done + 1);
    assert_int_equal(f.api.post_requests, posts + 1);
    assert_int_equal(f.by_error[NET_ERR_NETWORK], errors + 1);
    assert_int_equal(f.max_attempts, 1);
    assert_non_null(strstr(f.last_message, "not retried"));
    assert_int_equal(netc_stats(f.netc)->retries, retries);
    assert_int_equal(netc_stats(f.netc)->failed[API_EP_USER_BLOCK], k + 1);
    assert_int_equal(netc_stats(f.netc)->sent[API_EP_USER_BLOCK], k + 1);

    /* the same fault on a read: sent again (by curl on the dead keep-alive connection,
     * or by netc), and it succeeds */
    int tracks = f.api.track_requests;
    f.api.faults[f.api.n_faults++] = kinds[k];
    call_track(&f, 0);
    run_until(&f, f.done + 1);
    assert_int_equal(f.ok, (int)k * 2 + 2);
    assert_int_equal(f.api.track_requests, tracks + 2);
    assert_int_equal(f.api.post_requests, posts + 1);
  }
  teardown(&f);
}

/* Every other failure once the POST may have reached the server ends the call at the
 * first attempt: a hang past the timeout, HTTP 500, a body cut short (curl: a network
 * error), an HTML page, 10000. */
static void test_post_failures_not_retried(void **state) {
  (void)state;
  static const struct {
    const char *fault;
    net_error_t error;
    int code;
  } cases[] = {
    {"hang", NET_ERR_TIMEOUT, 0},      {"http500", NET_ERR_HTTP, 0},
    {"truncate", NET_ERR_NETWORK, 0},  {"html200", NET_ERR_BAD_BODY, 0},
    {"syserr", NET_ERR_API, API_CODE_SYSTEM_ERROR},
  };
  fixture_t f;
  netc_options_t opt = {.http.timeout_ms = 200};
  setup(&f, &opt, NULL);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int posts = f.api.post_requests, before = f.done, errors = f.by_error[cases[k].error];
    f.api.faults[f.api.n_faults++] = cases[k].fault;
    f.max_attempts = 0;
    f.last_code = -1;
    call_block(&f, 0);
    run_until(&f, before + 1);
    assert_int_equal(f.api.post_requests, posts + 1);
    assert_int_equal(f.by_error[cases[k].error], errors + 1);
    assert_int_equal(f.last_code, cases[k].code);
    assert_int_equal(f.max_attempts, 1);
    assert_non_null(strstr(f.last_message, "not retried"));
  }
  assert_int_equal(f.ok, 0);
  assert_int_equal(netc_stats(f.netc)->retries, 0);
  /* command/query is a POST that only reads: it keeps its retries */
  f.api.faults[f.api.n_faults++] = "http500";
  api_request_t req = {0};
  assert_int_equal(api_request_command_query(&req, "42"), 0);
  assert_int_equal(netc_call(f.netc, f.acct[0], &req, cb_response, &f), 0);
  api_request_free(&req);
  int posts = f.api.post_requests;
  run_until(&f, 6);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.api.post_requests, posts + 2);
  assert_int_equal(netc_stats(f.netc)->retries, 1);
  teardown(&f);
}

/* A refused connection means the POST never left: it is retried (here until attempts
 * run out) and the server never counts it. */
static void test_post_refused_retried(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.retry_max_attempts = 3};
  setup(&f, &opt, NULL);
  call_track(&f, 0); /* logged in before the port goes deaf */
  run_until(&f, 1);
  testsrv_stop_listening(&f.srv);
  uv_run(&f.loop, UV_RUN_NOWAIT); /* the listener closes */
  uint64_t retries = netc_stats(f.netc)->retries;
  f.max_attempts = 0;
  call_block(&f, 0);
  run_until(&f, 2);
  assert_int_equal(f.by_error[NET_ERR_NETWORK], 1);
  assert_int_equal(f.max_attempts, 3);
  assert_int_equal(f.api.post_requests, 0);
  assert_int_equal(netc_stats(f.netc)->retries, retries + 2);
  assert_non_null(strstr(f.last_message, "after 3 attempts"));
  assert_null(strstr(f.last_message, "not retried"));
  teardown(&f);
}

/* The server refused before acting (10009, a token error): the POST goes again, and
 * acts once. */
static void test_post_refusals_retried(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {0};
  setup(&f, &opt, NULL);
  f.api.faults[f.api.n_faults++] = "throttle";
  call_block(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.api.post_requests, 2);
  assert_int_equal(f.max_attempts, 2);
  assert_int_equal(netc_stats(f.netc)->throttled, 1);
  f.api.faults[f.api.n_faults++] = "tokenerr";
  f.max_attempts = 0;
  call_block(&f, 0);
  run_until(&f, 2);
  assert_int_equal(f.ok, 2);
  assert_int_equal(f.api.post_requests, 4);
  assert_int_equal(f.max_attempts, 2);
  assert_int_equal(netc_stats(f.netc)->token_replays, 1);
  assert_int_equal(f.api.logins[0], 2);
  teardown(&f);
}

/* A write refused as too frequent goes again, but not forever: past write_max_attempts
 * sends (or write_max_ms) it ends with the last answer, never acted on. */
static void test_post_refusals_capped(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.write_max_attempts = 4, .retry_base_ms = 1, .retry_max_ms = 5};
  setup(&f, &opt, NULL);
  for (int i = 0; i < 12; i++) f.api.faults[f.api.n_faults++] = i % 2 ? "http429" : "throttle";
  call_block(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.ok, 0);
  assert_int_equal(f.max_attempts, 4);
  assert_int_equal(f.api.post_requests, 4);
  assert_int_equal(f.by_error[NET_ERR_HTTP], 1); /* the 4th answer was a 429 */
  assert_non_null(strstr(f.last_message, "HTTP 429: refused as too frequent 4 times"));
  assert_non_null(strstr(f.last_message, "not acted on"));
  teardown(&f);

  /* the time budget: many attempts allowed, but 300 ms since the first send */
  netc_options_t timed = {.write_max_attempts = 1000, .write_max_ms = 300};
  setup(&f, &timed, NULL);
  for (int i = 0; i < 16; i++) f.api.faults[f.api.n_faults++] = "throttle";
  call_block(&f, 0);
  run_until(&f, 1);
  assert_int_equal(f.ok, 0);
  assert_int_equal(f.by_error[NET_ERR_API], 1);
  assert_int_equal(f.last_code, API_CODE_TOO_FREQUENT);
  assert_true(f.max_attempts < 16);
  assert_non_null(strstr(f.last_message, "refused as too frequent"));
  teardown(&f);
}

static void cb_close_from_callback(void *arg, const net_result_t *res) {
  fixture_t *f = arg;
  cb_response(arg, res);
  if (f->done == 1) {
    netc_close(f->netc, on_closed, f);
    api_request_t req = {0};
    const char *imeis[] = {"1"};
    assert_int_equal(api_request_track(&req, imeis, 1), 0);
    assert_int_equal(netc_call(f->netc, f->acct[0], &req, cb_response, f), -ESHUTDOWN);
    api_request_free(&req);
  }
}

/* netc_close with calls queued and in flight: each gets NET_ERR_CANCELLED once, even
 * when the close comes from inside a response callback. */
static void test_close_cancels(void **state) {
  (void)state;
  fixture_t f;
  netc_options_t opt = {.http.max_in_flight = 2};
  setup(&f, &opt, NULL);
  f.api.track_delay_ms = 200;
  for (int i = 0; i < 6; i++) {
    api_request_t req = {0};
    const char *imeis[] = {"1"};
    assert_int_equal(api_request_track(&req, imeis, 1), 0);
    assert_int_equal(netc_call(f.netc, f.acct[0], &req, cb_close_from_callback, &f), 0);
  }
  run_until(&f, 6);
  assert_int_equal(f.ok, 1);
  assert_int_equal(f.by_error[NET_ERR_CANCELLED], 5);
  testsrv_close(&f.srv);
  assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(f.closed, 1);
  assert_int_equal(uv_loop_close(&f.loop), 0);
}

/* libcurl's global state, as main sets it up. */
static int curl_setup(void **state) {
  (void)state;
  return http_global_init();
}

static int curl_teardown(void **state) {
  (void)state;
  http_global_cleanup();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_token_death_one_login),
    cmocka_unit_test(test_token_store_shared),
    cmocka_unit_test(test_token_store_unusable),
    cmocka_unit_test(test_refresh_before_expiry),
    cmocka_unit_test(test_login_loop_bounded),
    cmocka_unit_test(test_throttle_storm_completes),
    cmocka_unit_test(test_transient_faults_retried),
    cmocka_unit_test(test_retries_exhausted),
    cmocka_unit_test(test_bad_credentials_stop_one_account),
    cmocka_unit_test(test_blocked_account_stops),
    cmocka_unit_test(test_clock_skew_learned),
    cmocka_unit_test(test_api_code_passed_through),
    cmocka_unit_test(test_no_data_is_ok),
    cmocka_unit_test(test_decoder_parses_once),
    cmocka_unit_test(test_close_cancels),
    cmocka_unit_test(test_post_reset_not_resent),
    cmocka_unit_test(test_post_failures_not_retried),
    cmocka_unit_test(test_post_refused_retried),
    cmocka_unit_test(test_post_refusals_retried),
    cmocka_unit_test(test_post_refusals_capped),
  };
  return cmocka_run_group_tests(tests, curl_setup, curl_teardown);
}
