/* net/client against the real fleetarc-sim: tokens revoked with 50 requests in flight
 * (one login per death, counted by /sim/stats), 10009 storms, every HTTP fault kind,
 * a wrong password beside a working account, a server clock an hour ahead, and a token
 * replaced by another login (10011) or expired early (10012), each cured by one login.
 * Every test ends with all handles closed and uv_loop_close() == 0. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/sign.h"
#include "harness.h"
#include "net/client.h"
#include "net/http.h"
#include "net/tokenstore.h"
#include "sim/fleet.h"

#define DEVICES 200

typedef struct itest {
  uv_loop_t loop;
  uv_timer_t tick;
  harness_sim_t sim;
  netc_t *netc;
  netc_account_t *demo, *other;
  char imeis[DEVICES][16];
  size_t n_imeis;
  char subaccount[64];
  int issued, target, keep_in_flight;
  int done, ok, closed;
  int by_error[16];
  int last_code;
  char last_message[512];
  /* /sim/stats */
  cJSON *stats;
  bool stats_done;
} itest_t;

static void on_tick(uv_timer_t *t) { (void)t; }

/* The IMEIs of the fleet and a sub-account's name, from the same model the simulator
 * builds (same seed and size). */
static void fleet_facts(itest_t *t) {
  sim_fleet_options_t fo = {.seed = 1, .devices = DEVICES, .traps = true,
                            .epoch = (int64_t)time(NULL) - 7 * 86400};
  sim_fleet_t *f = sim_fleet_new(&fo);
  assert_non_null(f);
  t->n_imeis = 0;
  for (size_t i = 0; i < sim_fleet_device_count(f) && t->n_imeis < DEVICES; i++)
    snprintf(t->imeis[t->n_imeis++], sizeof t->imeis[0], "%s", sim_fleet_device(f, i)->imei);
  assert_true(sim_fleet_account_count(f) > 1);
  snprintf(t->subaccount, sizeof t->subaccount, "%s", sim_fleet_account(f, 1)->account);
  sim_fleet_free(f);
}

/* The simulator of the running test, so that a failed test (cmocka jumps out of it)
 * does not leave it behind: the next start or main stops it. */
static harness_sim_t live_sim;

static void start(itest_t *t, const char *const *sim_args, netc_options_t *opt) {
  harness_sim_stop(&live_sim);
  memset(t, 0, sizeof *t);
  const char *args[32];
  int n = 0;
  args[n++] = "--devices";
  args[n++] = "200";
  for (int i = 0; sim_args && sim_args[i]; i++) args[n++] = sim_args[i];
  args[n] = NULL;
  if (harness_sim_start(&t->sim, args) != 0) fail_msg("cannot start fleetarc-sim");
  live_sim = t->sim;
  fleet_facts(t);
  assert_int_equal(uv_loop_init(&t->loop), 0);
  uv_timer_init(&t->loop, &t->tick);
  uv_timer_start(&t->tick, on_tick, 20, 20);
  uv_unref((uv_handle_t *)&t->tick);
  opt->base_url = t->sim.base_url;
  if (!opt->retry_base_ms) opt->retry_base_ms = 10;
  if (!opt->retry_max_ms) opt->retry_max_ms = 200;
  if (!opt->retry_max_attempts) opt->retry_max_attempts = 10;
  t->netc = netc_new(&t->loop, opt);
  assert_non_null(t->netc);
  char md5[33];
  assert_int_equal(api_md5_hex(t->sim.password, strlen(t->sim.password), md5), 0);
  t->demo = netc_account_add(t->netc, t->sim.account, md5);
  assert_non_null(t->demo);
}

static void on_closed(void *arg) { ((itest_t *)arg)->closed = 1; }

static void stop(itest_t *t) {
  netc_close(t->netc, on_closed, t);
  uv_close((uv_handle_t *)&t->tick, NULL);
  assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(t->closed, 1);
  assert_int_equal(uv_loop_close(&t->loop), 0);
  cJSON_Delete(t->stats);
  harness_sim_stop(&t->sim);
  live_sim.pid = 0;
}

static void run_until(itest_t *t, int *counter, int value, uint64_t limit_ms) {
  uint64_t t0 = uv_now(&t->loop);
  while (*counter < value) {
    uv_run(&t->loop, UV_RUN_ONCE);
    if (uv_now(&t->loop) - t0 > limit_ms) fail_msg("timed out: %d of %d", *counter, value);
  }
}

static void issue(itest_t *t, netc_account_t *a);

static void cb_response(void *arg, const net_result_t *res) {
  itest_t *t = arg;
  t->done++;
  t->by_error[res->error]++;
  t->last_code = res->code;
  snprintf(t->last_message, sizeof t->last_message, "%s", res->message);
  if (res->error == NET_OK) {
    t->ok++;
    /* the body is a real track page: it parses */
    api_tracks_t tracks = {0};
    api_error_t err;
    assert_int_equal(api_parse_track(res->body, res->body_len, &tracks, &err), 0);
    assert_int_equal(tracks.n, 100);
    api_tracks_free(&tracks);
  }
  if (t->keep_in_flight && t->issued < t->target) issue(t, t->demo);
}

/* A track call for 100 of the fleet's IMEIs (rotating), through client n. */
static void issue_on(itest_t *t, netc_t *n, netc_account_t *a) {
  const char *list[100];
  for (int i = 0; i < 100; i++) list[i] = t->imeis[(size_t)(t->issued + i) % t->n_imeis];
  api_request_t req = {0};
  assert_int_equal(api_request_track(&req, list, 100), 0);
  assert_int_equal(netc_call(n, a, &req, cb_response, t), 0);
  t->issued++;
}

static void issue(itest_t *t, netc_account_t *a) { issue_on(t, t->netc, a); }

/* GET /sim/stats through a private http client; t->stats holds the parsed JSON. */
static void cb_stats(void *arg, const http_response_t *res) {
  itest_t *t = arg;
  assert_int_equal(res->error, HTTP_OK);
  cJSON_Delete(t->stats);
  t->stats = cJSON_ParseWithLength(res->body, res->body_len);
  assert_non_null(t->stats);
  t->stats_done = true;
}

static void fetch_stats(itest_t *t) {
  http_t *h = http_new(&t->loop, NULL);
  assert_non_null(h);
  char url[128];
  snprintf(url, sizeof url, "%s/sim/stats", t->sim.base_url);
  t->stats_done = false;
  assert_int_equal(http_request(h, API_METHOD_GET, url, cb_stats, t), 0);
  while (!t->stats_done) uv_run(&t->loop, UV_RUN_ONCE);
  http_close(h, NULL, NULL);
}

/* stats.a.b.c as an integer, 0 when absent. */
static long stat_at(itest_t *t, const char *a, const char *b, const char *c) {
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(t->stats, a);
  if (b) o = cJSON_GetObjectItemCaseSensitive(o, b);
  if (c) o = cJSON_GetObjectItemCaseSensitive(o, c);
  return cJSON_IsNumber(o) ? (long)o->valuedouble : 0;
}

/* (a) Tokens revoked at random while 50 track requests are in flight all the time:
 * exactly one login per revoked token, and every request succeeds. */
static void test_sim_revoked_token_one_login_each(void **state) {
  (void)state;
  itest_t t;
  static const char *const args[] = {"--faults", "revoke=0.03", NULL};
  netc_options_t opt = {.http.max_in_flight = 50};
  start(&t, args, &opt);
  t.target = 400;
  t.keep_in_flight = 1;
  for (int i = 0; i < 50; i++) issue(&t, t.demo);
  run_until(&t, &t.done, t.target, 120000);
  assert_int_equal(t.ok, t.target);
  fetch_stats(&t);
  long revokes = stat_at(&t, "faults", "revoke", NULL);
  long logins = stat_at(&t, "logins", "accounts", t.sim.account);
  assert_true(revokes >= 3);
  assert_int_equal(logins, 1 + revokes);
  assert_int_equal(netc_stats(t.netc)->logins, (uint64_t)logins);
  assert_true(netc_stats(t.netc)->token_replays >= (uint64_t)revokes);
  print_message("revokes %ld, logins %ld, replays %llu\n", revokes, logins,
                (unsigned long long)netc_stats(t.netc)->token_replays);
  stop(&t);
}

/* (a') Short-lived tokens: the client renews before expiry; no request fails. */
static void test_sim_short_token_ttl(void **state) {
  (void)state;
  itest_t t;
  static const char *const args[] = {"--token-ttl", "2", NULL};
  netc_options_t opt = {.http.max_in_flight = 50};
  start(&t, args, &opt);
  t.target = 300;
  t.keep_in_flight = 1;
  uint64_t t0 = uv_now(&t.loop);
  for (int i = 0; i < 50; i++) issue(&t, t.demo);
  run_until(&t, &t.done, t.target, 120000);
  uint64_t elapsed = uv_now(&t.loop) - t0;
  assert_int_equal(t.ok, t.target);
  fetch_stats(&t);
  long logins = stat_at(&t, "logins", "accounts", t.sim.account);
  /* one login per 1.5 s (75% of 2 s), plus the first */
  assert_true(logins >= 1 && (uint64_t)logins <= 2 + elapsed / 1400);
  assert_int_equal(netc_stats(t.netc)->logins, (uint64_t)logins);
  stop(&t);
}

/* (b) A rate limit on track: 10009 widens the lane, everything completes, and the
 * requests the server accepted were spaced as it demands. */
static void test_sim_ratelimit_storm(void **state) {
  (void)state;
  itest_t t;
  static const char *const args[] = {"--limits", "track=200ms", NULL};
  netc_options_t opt = {.pacing = {.widen_min_ms = 100, .max_spacing_ms = 2000}};
  start(&t, args, &opt);
  uint64_t t0 = uv_now(&t.loop);
  for (int i = 0; i < 15; i++) issue(&t, t.demo);
  run_until(&t, &t.done, 15, 120000);
  uint64_t elapsed = uv_now(&t.loop) - t0;
  assert_int_equal(t.ok, 15);
  fetch_stats(&t);
  long refused = stat_at(&t, "responses", "10009", NULL);
  long sent = stat_at(&t, "requests", "track", NULL);
  assert_true(refused >= 14); /* the first burst */
  assert_int_equal(sent, 15 + refused);
  assert_int_equal(netc_stats(t.netc)->throttled, (uint64_t)refused);
  /* the rate dropped: a blind client would resend the refused ones at once; this one
   * spread 15 accepted requests over >= 14 server spacings and was refused rarely */
  assert_true(elapsed >= 14 * 200);
  assert_true(refused < 15 + 15);
  print_message("10009: %ld, elapsed %llu ms\n", refused, (unsigned long long)elapsed);
  stop(&t);
}

/* (b') Random 10009 answers: all work completes, none fails. */
static void test_sim_ratelimit_fault(void **state) {
  (void)state;
  itest_t t;
  static const char *const args[] = {"--faults", "ratelimit=0.3", NULL};
  netc_options_t opt = {.pacing = {.widen_min_ms = 20, .max_spacing_ms = 200}};
  start(&t, args, &opt);
  for (int i = 0; i < 30; i++) issue(&t, t.demo);
  run_until(&t, &t.done, 30, 120000);
  assert_int_equal(t.ok, 30);
  fetch_stats(&t);
  long faults = stat_at(&t, "faults", "ratelimit", NULL);
  assert_true(faults > 0);
  assert_int_equal(netc_stats(t.netc)->throttled, (uint64_t)faults);
  stop(&t);
}

/* (c) Each HTTP fault kind: retried (counted), and every request finally succeeds. */
static void test_sim_http_faults(void **state) {
  (void)state;
  static const char *const kinds[] = {"http500", "http502", "slow", "timeout",
                                      "reset",   "truncate", "syserr"};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    itest_t t;
    char spec[64];
    snprintf(spec, sizeof spec, "%s=0.3", kinds[k]);
    const char *args[] = {"--faults", spec, NULL};
    /* Only "timeout" (an answer that never comes) needs a short client timeout; the other
     * kinds get a long one, so that an answer slowed by a loaded machine is no retry of
     * its own. 2 s still ends the hung ones quickly. */
    bool hang = strcmp(kinds[k], "timeout") == 0;
    netc_options_t opt = {.http.timeout_ms = hang ? 2000 : 10000};
    start(&t, args, &opt);
    for (int i = 0; i < 20; i++) issue(&t, t.demo);
    run_until(&t, &t.done, 20, 120000);
    assert_int_equal(t.ok, 20);
    fetch_stats(&t);
    long faults = stat_at(&t, "faults", kinds[k], NULL);
    uint64_t retries = netc_stats(t.netc)->retries;
    print_message("%s: %ld faults, %llu retries\n", kinds[k], faults, (unsigned long long)retries);
    assert_true(faults > 0);
    if (strcmp(kinds[k], "slow") == 0) {
      assert_int_equal(retries, 0);
    } else if (hang) {
      /* every hung answer is retried; a normal one slower than 2 s on a loaded machine
       * may be retried too (then it counts as a timeout the client could not tell) */
      assert_true(retries >= (uint64_t)faults);
    } else if (strcmp(kinds[k], "reset") == 0) {
      /* curl itself resends once when a reused connection dies before any byte of the
       * answer: some resets never reach the client's retry logic */
      assert_true(retries <= (uint64_t)faults);
    } else {
      assert_int_equal(retries, (uint64_t)faults);
    }
    stop(&t);
  }
}

/* (d) A wrong password stops that account (one login attempt, its calls fail with
 * 20001) while the right one works. */
static void test_sim_bad_password_stops_one_account(void **state) {
  (void)state;
  itest_t t;
  netc_options_t opt = {0};
  start(&t, NULL, &opt);
  char wrong[33];
  assert_int_equal(api_md5_hex("not the password", 16, wrong), 0);
  t.other = netc_account_add(t.netc, t.subaccount, wrong);
  assert_non_null(t.other);
  for (int i = 0; i < 3; i++) issue(&t, t.other);
  for (int i = 0; i < 3; i++) issue(&t, t.demo);
  run_until(&t, &t.done, 6, 60000);
  assert_int_equal(t.ok, 3);
  assert_int_equal(t.by_error[NET_ERR_ACCOUNT], 3);
  assert_int_equal(netc_account_stopped(t.other), API_CODE_BAD_CREDENTIALS);
  assert_int_equal(netc_account_stopped(t.demo), 0);
  fetch_stats(&t);
  assert_int_equal(stat_at(&t, "responses", "20001", NULL), 1);
  assert_int_equal(stat_at(&t, "logins", "accounts", t.sim.account), 1);
  assert_int_equal(stat_at(&t, "logins", "accounts", t.subaccount), 0);
  stop(&t);
}

/* (e) The server's clock is an hour ahead: one 10014, the offset is learned from the
 * Date header, the next login succeeds. */
static void test_sim_clock_skew(void **state) {
  (void)state;
  itest_t t;
  static const char *const args[] = {"--clock-skew", "3600", NULL};
  netc_options_t opt = {0};
  start(&t, args, &opt);
  issue(&t, t.demo);
  run_until(&t, &t.done, 1, 60000);
  assert_int_equal(t.ok, 1);
  int64_t off = netc_clock_offset(t.netc);
  assert_true(off >= 3598 && off <= 3602);
  fetch_stats(&t);
  assert_int_equal(stat_at(&t, "responses", "10014", NULL), 1);
  assert_int_equal(stat_at(&t, "logins", "accounts", t.sim.account), 1);
  stop(&t);
}

/* A second client on the loop of t (another process, as far as the server knows), with
 * the account of the simulator; closed with close_second(). */
static netc_t *second_client(itest_t *t, const char *token_dir, netc_account_t **acct) {
  netc_options_t opt = {.base_url = t->sim.base_url, .retry_base_ms = 10, .retry_max_ms = 200,
                        .token_dir = token_dir};
  netc_t *n = netc_new(&t->loop, &opt);
  assert_non_null(n);
  char md5[33];
  assert_int_equal(api_md5_hex(t->sim.password, strlen(t->sim.password), md5), 0);
  *acct = netc_account_add(n, t->sim.account, md5);
  assert_non_null(*acct);
  return n;
}

static void on_closed_flag(void *arg) { *(int *)arg = 1; }

static void close_second(itest_t *t, netc_t *n) {
  int closed = 0;
  netc_close(n, on_closed_flag, &closed);
  while (!closed) uv_run(&t->loop, UV_RUN_ONCE);
}

/* (f) 10011, a token replaced by another login (the spec: the old token is invalid at
 * once), is cured by one new login, the call going through. */
static void test_sim_replaced_token(void **state) {
  (void)state;
  itest_t t;
  netc_options_t opt = {0};
  start(&t, NULL, &opt);
  issue(&t, t.demo);
  run_until(&t, &t.done, 1, 60000);
  netc_account_t *b_acct;
  netc_t *b = second_client(&t, NULL, &b_acct); /* its login replaces the token of t */
  issue_on(&t, b, b_acct);
  run_until(&t, &t.done, 2, 60000);
  issue(&t, t.demo);
  run_until(&t, &t.done, 3, 60000);
  assert_int_equal(t.ok, 3);
  fetch_stats(&t);
  assert_int_equal(stat_at(&t, "responses", "10011", NULL), 1);
  assert_int_equal(stat_at(&t, "logins", "accounts", t.sim.account), 3);
  assert_int_equal(netc_stats(t.netc)->token_replays, 1);
  assert_int_equal(netc_stats(t.netc)->logins, 2);
  close_second(&t, b);
  stop(&t);
}

/* (g) 10012, a token the server holds for expired while the client still trusts it
 * (here: the token store says it lasts 2 hours, the server gave 2 s): one new login, the
 * call goes through. Real clients often know 10012 only; both must work. */
static void test_sim_expired_token(void **state) {
  (void)state;
  itest_t t;
  static const char *const args[] = {"--token-ttl", "2", NULL};
  char dir[] = "/tmp/fleetarc-nettok.XXXXXX";
  assert_non_null(mkdtemp(dir));
  netc_options_t opt = {.token_dir = dir};
  start(&t, args, &opt);
  issue(&t, t.demo); /* logs in and writes the store */
  run_until(&t, &t.done, 1, 60000);
  char md5[33];
  assert_int_equal(api_md5_hex(t.sim.password, strlen(t.sim.password), md5), 0);
  tokenstore_t *ts = tokenstore_new(dir, t.sim.base_url, t.sim.account, md5);
  assert_non_null(ts);
  tokenstore_entry_t e;
  assert_int_equal(tokenstore_read(ts, &e), 0);
  uint64_t gen;
  assert_int_equal(tokenstore_write(ts, e.token, e.obtained_at, e.obtained_at + 7200, &gen), 0);
  tokenstore_free(ts);
  sleep(3); /* the server's 2 s are over */
  netc_account_t *b_acct;
  netc_t *b = second_client(&t, dir, &b_acct); /* adopts the stored token */
  issue_on(&t, b, b_acct);
  run_until(&t, &t.done, 2, 60000);
  assert_int_equal(t.ok, 2);
  fetch_stats(&t);
  assert_int_equal(stat_at(&t, "responses", "10012", NULL), 1);
  assert_int_equal(stat_at(&t, "logins", "accounts", t.sim.account), 2);
  assert_int_equal(netc_stats(b)->tokens_adopted, 1);
  assert_int_equal(netc_stats(b)->token_replays, 1);
  assert_int_equal(netc_stats(b)->logins, 1);
  close_second(&t, b);
  stop(&t);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
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
  if (!getenv("FLEETARC_SIM_BIN")) {
    fprintf(stderr, "FLEETARC_SIM_BIN not set: skipping\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sim_revoked_token_one_login_each),
    cmocka_unit_test(test_sim_short_token_ttl),
    cmocka_unit_test(test_sim_ratelimit_storm),
    cmocka_unit_test(test_sim_ratelimit_fault),
    cmocka_unit_test(test_sim_http_faults),
    cmocka_unit_test(test_sim_bad_password_stops_one_account),
    cmocka_unit_test(test_sim_clock_skew),
    cmocka_unit_test(test_sim_replaced_token),
    cmocka_unit_test(test_sim_expired_token),
  };
  int failed = cmocka_run_group_tests(tests, curl_setup, curl_teardown);
  harness_sim_stop(&live_sim);
  return failed;
}
