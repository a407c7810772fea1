/* Unit tests for archive/gapheal: which silences are gaps, when they are due, how many
 * asks a window costs at most, and what a restart (gaps loaded again) does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "archive/gapheal.h"

static const gapheal_options_t OPT = {.settle_s = 600, .min_s = 120, .max_attempts = 3};

/* Feeds a moving track: reports every 10 s over [a, b]. */
static int feed(gapheal_t *g, uint32_t dev, int64_t a, int64_t b, int speed, int64_t asked,
                gapheal_gap_t *out) {
  int found = 0;
  for (int64_t t = a; t <= b; t += 10) {
    int rc = gapheal_observe(g, dev, t, speed, asked, out);
    assert_true(rc >= 0);
    found += rc;
  }
  return found;
}

static void test_detect(void **state) {
  (void)state;
  gapheal_t *g = gapheal_new(&OPT);
  assert_non_null(g);
  gapheal_gap_t gap;
  /* a moving device, silent 300 s, read right away: one gap [1091, 1389] */
  assert_int_equal(feed(g, 1, 1000, 1090, 40, 1500, &gap), 0);
  assert_int_equal(feed(g, 1, 1390, 1500, 40, 1500, &gap), 1);
  assert_int_equal(gap.dev, 1);
  assert_int_equal(gap.from, 1091);
  assert_int_equal(gap.to, 1389);
  assert_int_equal(gap.next_at, 1390 + 600);
  assert_int_equal(gap.detected_at, 1500);
  assert_int_equal(gapheal_open(g), 1);
  /* the same second again, or older: nothing */
  assert_int_equal(gapheal_observe(g, 1, 1500, 40, 1500, &gap), 0);
  /* a silence of exactly min_s: no gap */
  assert_int_equal(feed(g, 2, 1000, 1000, 40, 1200, &gap), 0);
  assert_int_equal(feed(g, 2, 1120, 1120, 40, 1200, &gap), 0);
  /* parked on both sides (heartbeats 30 min apart): no gap */
  assert_int_equal(feed(g, 3, 0, 0, 0, 5000, &gap), 0);
  assert_int_equal(feed(g, 3, 1800, 1800, 0, 5000, &gap), 0);
  /* moving on one side only: a gap */
  assert_int_equal(feed(g, 3, 3600, 3600, 30, 3700, &gap), 1);
  /* read after it settled (asked_at >= after + settle): not a gap */
  assert_int_equal(feed(g, 4, 1000, 1000, 40, 9000, &gap), 0);
  assert_int_equal(feed(g, 4, 2000, 2000, 40, 9000, &gap), 0);
  /* a device whose pages start elsewhere forgets its last position */
  gapheal_reset_device(g, 5);
  assert_int_equal(feed(g, 5, 1000, 1000, 40, 1100, &gap), 0);
  gapheal_reset_device(g, 5);
  assert_int_equal(feed(g, 5, 5000, 5000, 40, 5100, &gap), 0);
  assert_int_equal(gapheal_open(g), 2);
  gapheal_free(g);
}

static void test_due_and_bounded(void **state) {
  (void)state;
  gapheal_t *g = gapheal_new(&OPT);
  gapheal_gap_t gap, out;
  assert_int_equal(feed(g, 7, 1000, 1000, 40, 1400, &gap), 0);
  assert_int_equal(feed(g, 7, 1300, 1300, 40, 1400, &gap), 1);
  int64_t wake = INT64_MAX;
  /* not before it settled */
  assert_null(gapheal_due(g, 1899, &wake));
  assert_int_equal(wake, 1900);
  /* a device switched off for good: each ask brings nothing; once per settle period,
   * max_attempts asks in all, then healed with nothing recovered */
  int64_t now = 1900;
  int asks = 0;
  for (int round = 0; round < 10; round++) {
    wake = INT64_MAX;
    gapheal_gap_t *d = gapheal_due(g, now, &wake);
    if (!d) {
      if (wake == INT64_MAX) break;
      assert_true(wake >= now);
      now = wake;
      continue;
    }
    d->busy = true;
    assert_null(gapheal_due(g, now + 100000, NULL)); /* busy: not handed out twice */
    asks++;
    gapheal_done(g, d, now, 0, &out);
    assert_int_equal(out.attempts, (unsigned)asks);
    assert_null(gapheal_due(g, now + 599, NULL)); /* at most once per settle period */
  }
  assert_int_equal(asks, 3);
  assert_true(out.healed);
  assert_int_equal(out.recovered, 0);
  assert_int_equal(gapheal_open(g), 0);
  assert_int_equal(gapheal_healed(g), 1);
  gapheal_free(g);
}

static void test_heal_and_restart(void **state) {
  (void)state;
  gapheal_t *g = gapheal_new(&OPT);
  gapheal_gap_t gap, out;
  assert_int_equal(feed(g, 9, 1000, 1000, 40, 1400, &gap), 0);
  assert_int_equal(feed(g, 9, 1300, 1300, 40, 1400, &gap), 1);
  /* a failed ask is no attempt, and waits a settle period */
  gapheal_gap_t *d = gapheal_due(g, 1900, NULL);
  assert_non_null(d);
  d->busy = true;
  gapheal_failed(g, d, 1900);
  assert_null(gapheal_due(g, 2499, NULL));
  d = gapheal_due(g, 2500, NULL);
  assert_non_null(d);
  assert_int_equal(d->attempts, 0);
  /* positions came: healed at once */
  d->busy = true;
  gapheal_done(g, d, 2500, 25, &out);
  assert_true(out.healed);
  assert_int_equal(out.recovered, 25);
  assert_int_equal(out.attempts, 0);
  assert_int_equal(out.last_asked, 2500);
  assert_int_equal(gapheal_open(g), 0);
  gapheal_free(g);

  /* a restart during the settle period: the open gap comes back from the database with
   * its due time, is asked once when due, and an equal one is not added twice */
  gapheal_t *h = gapheal_new(&OPT);
  assert_int_equal(gapheal_add(h, &gap), 0);
  assert_int_equal(gapheal_add(h, &gap), 0);
  assert_int_equal(gapheal_open(h), 1);
  assert_null(gapheal_due(h, gap.next_at - 1, NULL));
  d = gapheal_due(h, gap.next_at, NULL);
  assert_non_null(d);
  assert_int_equal(d->from, 1001);
  assert_int_equal(d->to, 1299);
  /* the same window seen again in a page after the restart is not a new gap */
  assert_int_equal(feed(h, 9, 1000, 1000, 40, 1400, &out), 0);
  assert_int_equal(feed(h, 9, 1300, 1300, 40, 1400, &out), 0);
  assert_int_equal(gapheal_open(h), 1);
  gapheal_free(h);
}

/* A silence spanning a restart: the last stored position, seeded at startup, is what the
 * first page of the new process is compared with. */
static void test_seed(void **state) {
  (void)state;
  gapheal_t *g = gapheal_new(&OPT);
  assert_non_null(g);
  gapheal_gap_t gap;
  /* without a seed the first position of a process finds nothing */
  assert_int_equal(feed(g, 1, 2000, 2000, 40, 2100, &gap), 0);
  /* seeded with 1000 (moving): the page from 2000 on shows [1001, 1999] */
  assert_int_equal(gapheal_seed(g, 2, 1000, 40), 0);
  assert_int_equal(feed(g, 2, 2000, 2100, 40, 2100, &gap), 1);
  assert_int_equal(gap.from, 1001);
  assert_int_equal(gap.to, 1999);
  assert_int_equal(gap.next_at, 2000 + 600);
  /* a seed older than what this process observed changes nothing */
  assert_int_equal(gapheal_seed(g, 2, 1500, 40), 0);
  assert_int_equal(feed(g, 2, 2110, 2110, 40, 2200, &gap), 0);
  /* parked when seeded and parked after: no gap */
  assert_int_equal(gapheal_seed(g, 3, 1000, 0), 0);
  assert_int_equal(feed(g, 3, 4000, 4000, 0, 4100, &gap), 0);
  assert_int_equal(gapheal_open(g), 1);
  gapheal_free(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_detect),
    cmocka_unit_test(test_due_and_bounded),
    cmocka_unit_test(test_heal_and_restart),
    cmocka_unit_test(test_seed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
