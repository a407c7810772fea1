/* Unit tests for net/pacer and net/backoff with a fake clock: spacing per account and
 * endpoint, the global rate, 10009 widening (once per burst, capped) and narrowing back,
 * the jitter margin of refusals at the floor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/backoff.h"
#include "net/pacer.h"

static pacer_t *pacer_fixture(double global_rate) {
  pacer_options_t opt = {0};
  for (int i = 0; i < API_EP_COUNT; i++) opt.spacing_ms[i] = 1000;
  opt.spacing_ms[API_EP_PLAYBACK] = 12000;
  opt.spacing_ms[API_EP_TRACK] = 0;
  opt.global_rate = global_rate;
  opt.max_spacing_ms = 60000;
  pacer_t *p = pacer_new(&opt);
  assert_non_null(p);
  return p;
}

static void test_spacing_per_account_and_endpoint(void **state) {
  (void)state;
  pacer_t *p = pacer_fixture(0);
  int a = pacer_account_add(p), b = pacer_account_add(p);
  assert_int_equal(a, 0);
  assert_int_equal(b, 1);
  uint64_t now = 5000;
  assert_int_equal(pacer_next(p, a, API_EP_PLAYBACK, now), now); /* never sent: go */
  pacer_sent(p, a, API_EP_PLAYBACK, now);
  assert_int_equal(pacer_next(p, a, API_EP_PLAYBACK, now + 1), now + 12000);
  assert_int_equal(pacer_next(p, a, API_EP_PLAYBACK, now + 12000), now + 12000);
  assert_int_equal(pacer_next(p, a, API_EP_PLAYBACK, now + 20000), now + 20000);
  /* another endpoint of the same account, and the same endpoint of another account: free */
  assert_int_equal(pacer_next(p, a, API_EP_ALARM_LIST, now + 1), now + 1);
  assert_int_equal(pacer_next(p, b, API_EP_PLAYBACK, now + 1), now + 1);
  /* a zero floor never waits */
  pacer_sent(p, a, API_EP_TRACK, now);
  assert_int_equal(pacer_next(p, a, API_EP_TRACK, now), now);
  pacer_free(p);
}

static void test_global_rate_spans_accounts(void **state) {
  (void)state;
  pacer_t *p = pacer_fixture(4.0); /* 250 ms apart */
  int a = pacer_account_add(p), b = pacer_account_add(p);
  pacer_sent(p, a, API_EP_TRACK, 1000);
  assert_int_equal(pacer_next(p, b, API_EP_TRACK, 1000), 1250);
  assert_int_equal(pacer_next(p, b, API_EP_DEVICE_LIST, 1100), 1250);
  assert_int_equal(pacer_next(p, b, API_EP_TRACK, 1300), 1300);
  pacer_free(p);
}

static void test_throttle_widens_once_per_burst_and_caps(void **state) {
  (void)state;
  pacer_t *p = pacer_fixture(0);
  int a = pacer_account_add(p);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 1000);
  /* 20 requests sent at t=100..119 all come back 10009 at t=200..219: one widening */
  for (uint64_t i = 0; i < 20; i++) pacer_throttled(p, a, API_EP_DEVICE_LIST, 100 + i, 200 + i);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 2000);
  /* the next request waits a full spacing from the refusal */
  assert_int_equal(pacer_next(p, a, API_EP_DEVICE_LIST, 300), 2200);
  /* a request sent after the widening that is refused again widens again */
  pacer_throttled(p, a, API_EP_DEVICE_LIST, 2200, 2300);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 4000);
  for (int i = 0; i < 20; i++) pacer_throttled(p, a, API_EP_DEVICE_LIST, 10000u * (i + 1), 10000u * (i + 1) + 1);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 60000); /* the cap */
  /* a zero floor widens to at least widen_min_ms (default 1 s) */
  pacer_throttled(p, a, API_EP_TRACK, 0, 1);
  assert_int_equal(pacer_spacing(p, a, API_EP_TRACK), 1000);
  /* other lanes are untouched */
  assert_int_equal(pacer_spacing(p, a, API_EP_PLAYBACK), 12000);
  pacer_free(p);
}

static void test_success_narrows_to_floor(void **state) {
  (void)state;
  pacer_t *p = pacer_fixture(0);
  int a = pacer_account_add(p);
  pacer_throttled(p, a, API_EP_DEVICE_LIST, 0, 1);
  pacer_throttled(p, a, API_EP_DEVICE_LIST, 2, 3);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 4000);
  pacer_succeeded(p, a, API_EP_DEVICE_LIST);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 3600); /* -10% */
  int n = 0;
  while (pacer_spacing(p, a, API_EP_DEVICE_LIST) > 1000 && n < 1000) {
    pacer_succeeded(p, a, API_EP_DEVICE_LIST);
    n++;
  }
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 1000);
  assert_true(n > 5 && n < 20); /* gradually, not at once */
  pacer_succeeded(p, a, API_EP_DEVICE_LIST);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 1000);
  pacer_succeeded(p, a, API_EP_TRACK); /* floor 0 stays 0 */
  assert_int_equal(pacer_spacing(p, a, API_EP_TRACK), 0);
  pacer_free(p);
}

/* A 10009 for a request that kept the floor after the lane's previous one is jitter (the
 * host saw the two closer than they were sent): a margin of 1/16 of the floor, capped at
 * a quarter, not a doubling; successes take it back. A refusal of a request sent closer
 * than the floor, or of the lane's first, still doubles. */
static void test_throttle_at_floor_is_jitter(void **state) {
  (void)state;
  pacer_t *p = pacer_fixture(0);
  int a = pacer_account_add(p);
  pacer_sent(p, a, API_EP_PLAYBACK, 0);
  pacer_sent(p, a, API_EP_PLAYBACK, 12000);
  pacer_throttled(p, a, API_EP_PLAYBACK, 12000, 12040);
  assert_int_equal(pacer_spacing(p, a, API_EP_PLAYBACK), 12750); /* 12000 + 750 */
  assert_int_equal(pacer_next(p, a, API_EP_PLAYBACK, 12041), 12040 + 12750);
  uint64_t t = 12040;
  for (int i = 0; i < 10; i++) { /* every refusal kept the (growing) spacing: capped */
    t += 12750 + 750u * (unsigned)(i + 1);
    pacer_sent(p, a, API_EP_PLAYBACK, t);
    pacer_throttled(p, a, API_EP_PLAYBACK, t, t + 30);
  }
  assert_int_equal(pacer_spacing(p, a, API_EP_PLAYBACK), 15000); /* 12000 + 12000 / 4 */
  for (int i = 0; i < PACER_MARGIN_CALM; i++) pacer_succeeded(p, a, API_EP_PLAYBACK);
  assert_int_equal(pacer_spacing(p, a, API_EP_PLAYBACK), 14250); /* one step back */
  for (int i = 0; i < 4 * PACER_MARGIN_CALM; i++) pacer_succeeded(p, a, API_EP_PLAYBACK);
  assert_int_equal(pacer_spacing(p, a, API_EP_PLAYBACK), 12000);
  /* sent 100 ms after the previous one (a floor too low): doubles as before */
  pacer_sent(p, a, API_EP_DEVICE_LIST, 50000);
  pacer_sent(p, a, API_EP_DEVICE_LIST, 50100);
  pacer_throttled(p, a, API_EP_DEVICE_LIST, 50100, 50200);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 2000);
  /* the lane's first request: no previous one to have kept a floor from */
  pacer_sent(p, a, API_EP_ALARM_LIST, 50000);
  pacer_throttled(p, a, API_EP_ALARM_LIST, 50000, 50100);
  assert_int_equal(pacer_spacing(p, a, API_EP_ALARM_LIST), 2000);
  pacer_free(p);
}

/* A reload's new floors: a lane at its old floor takes the new one at once, a widened
 * lane keeps its spacing and narrows to the new floor; the global rate changes too. */
static void test_set_limits_reload(void **state) {
  (void)state;
  pacer_t *p = pacer_fixture(0);
  int a = pacer_account_add(p);
  pacer_throttled(p, a, API_EP_ALARM_LIST, 0, 100); /* 1000 -> 2000 */
  assert_int_equal(pacer_spacing(p, a, API_EP_ALARM_LIST), 2000);
  pacer_options_t opt = {0};
  for (int i = 0; i < API_EP_COUNT; i++) opt.spacing_ms[i] = 500;
  opt.spacing_ms[API_EP_PLAYBACK] = 3000;
  opt.spacing_ms[API_EP_TRACK] = 90000; /* above the old cap: the cap follows */
  opt.global_rate = 2;
  pacer_set_limits(p, &opt);
  assert_int_equal(pacer_spacing(p, a, API_EP_PLAYBACK), 3000);
  assert_int_equal(pacer_spacing(p, a, API_EP_TRACK), 90000);
  assert_int_equal(pacer_spacing(p, a, API_EP_DEVICE_LIST), 500);
  assert_int_equal(pacer_spacing(p, a, API_EP_ALARM_LIST), 2000); /* widened: kept */
  for (int i = 0; i < 100; i++) pacer_succeeded(p, a, API_EP_ALARM_LIST);
  assert_int_equal(pacer_spacing(p, a, API_EP_ALARM_LIST), 500); /* down to the new floor */
  pacer_sent(p, a, API_EP_PLAYBACK, 10000);
  assert_int_equal(pacer_next(p, a, API_EP_PLAYBACK, 10001), 13000);
  assert_int_equal(pacer_next(p, a, API_EP_DEVICE_LIST, 10001), 10500); /* global 2/s */
  /* an account added after the reload starts at the new floors */
  int b = pacer_account_add(p);
  assert_int_equal(pacer_spacing(p, b, API_EP_PLAYBACK), 3000);
  pacer_free(p);
}

static void test_backoff_full_jitter_bounded(void **state) {
  (void)state;
  /* rnd = UINT64_MAX - k hits the top of [0, cap] for suitable values; check the cap */
  assert_int_equal(backoff_delay_ms(100, 10000, 0, 100), 100);
  assert_int_equal(backoff_delay_ms(100, 10000, 0, 101), 0);
  assert_int_equal(backoff_delay_ms(100, 10000, 3, 800), 800);  /* cap 800 */
  assert_int_equal(backoff_delay_ms(100, 10000, 3, 801), 0);
  assert_int_equal(backoff_delay_ms(100, 10000, 20, 10000), 10000); /* capped at max */
  assert_int_equal(backoff_delay_ms(100, 10000, 1000, 10001), 0);   /* no overflow */
  uint64_t seen_low = 0, seen_high = 0;
  for (int i = 0; i < 2000; i++) {
    uint64_t d = backoff_delay_ms(100, 10000, 4, backoff_random());
    assert_true(d <= 1600);
    if (d < 400) seen_low++;
    if (d > 1200) seen_high++;
  }
  assert_true(seen_low > 100 && seen_high > 100); /* spread over the whole range */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spacing_per_account_and_endpoint),
    cmocka_unit_test(test_global_rate_spans_accounts),
    cmocka_unit_test(test_throttle_widens_once_per_burst_and_caps),
    cmocka_unit_test(test_success_narrows_to_floor),
    cmocka_unit_test(test_throttle_at_floor_is_jitter),
    cmocka_unit_test(test_set_limits_reload),
    cmocka_unit_test(test_backoff_full_jitter_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
