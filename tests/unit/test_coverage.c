/* Unit tests for archive/coverage (what is archived, gaps) and archive/alarmcad (when
 * `run` asks alarms). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "archive/alarmcad.h"
#include "archive/coverage.h"

static void gap(coverage_t *c, size_t dev, int s, int64_t t, int64_t want_from, int64_t want_to) {
  int64_t f, to;
  coverage_gap(c, dev, s, t, &f, &to);
  assert_int_equal(f, want_from);
  assert_int_equal(to, want_to);
}

static void test_merge_overlap_and_touch(void **state) {
  (void)state;
  coverage_t *c = coverage_new();
  assert_non_null(c);
  assert_int_equal(coverage_count(c, 5, 0), 0);
  gap(c, 5, 0, 100, 100, INT64_MAX);
  assert_int_equal(coverage_add(c, 5, 0, 100, 199), 0);
  assert_int_equal(coverage_add(c, 5, 0, 300, 399), 0);
  assert_int_equal(coverage_count(c, 5, 0), 2);
  assert_int_equal(coverage_count(c, 5, 1), 0); /* streams apart */
  gap(c, 5, 0, 50, 50, 99);
  gap(c, 5, 0, 150, 200, 299);  /* inside: the gap after the interval */
  gap(c, 5, 0, 399, 400, INT64_MAX);
  assert_true(coverage_covers(c, 5, 0, 100));
  assert_true(coverage_covers(c, 5, 0, 399));
  assert_false(coverage_covers(c, 5, 0, 200));
  /* touching (200 == 199 + 1) merges; so does the bridge to 300 */
  assert_int_equal(coverage_add(c, 5, 0, 200, 299), 0);
  assert_int_equal(coverage_count(c, 5, 0), 1);
  assert_int_equal(coverage_at(c, 5, 0, 0)->from, 100);
  assert_int_equal(coverage_at(c, 5, 0, 0)->to, 399);
  /* one interval swallowing several, and one before all */
  assert_int_equal(coverage_add(c, 5, 0, 500, 510), 0);
  assert_int_equal(coverage_add(c, 5, 0, 600, 610), 0);
  assert_int_equal(coverage_add(c, 5, 0, 10, 20), 0);
  assert_int_equal(coverage_count(c, 5, 0), 4);
  assert_int_equal(coverage_add(c, 5, 0, 450, 700), 0);
  assert_int_equal(coverage_count(c, 5, 0), 3);
  assert_int_equal(coverage_last(c, 5, 0)->from, 450);
  assert_int_equal(coverage_last(c, 5, 0)->to, 700);
  assert_int_equal(coverage_at(c, 5, 0, 0)->to, 20);
  /* a gap of one second stays a gap */
  assert_int_equal(coverage_add(c, 5, 0, 401, 449), 0);
  assert_int_equal(coverage_count(c, 5, 0), 3);
  gap(c, 5, 0, 100, 400, 400);
  assert_int_equal(coverage_add(c, 5, 0, 400, 400), 0);
  assert_int_equal(coverage_count(c, 5, 0), 2);
  assert_int_equal(coverage_add(c, 5, 0, 9, 8), -EINVAL);
  assert_int_equal(coverage_add(c, 5, 2, 1, 8), -EINVAL);
  assert_null(coverage_last(c, 99999, 0));
  coverage_free(c);
}

/* A backfill [F, T] over what `run` holds costs nothing; `run` after a backfill starts
 * at the backfill's end; two overlapping backfills fetch the overlap once. */
static void test_jobs_ask_only_gaps(void **state) {
  (void)state;
  coverage_t *c = coverage_new();
  assert_int_equal(coverage_add(c, 0, 1, 1000, 5000), 0);   /* run held [1000, 5000] */
  gap(c, 0, 1, 2000, 5001, INT64_MAX);                      /* backfill [2000, 4000]: none */
  assert_int_equal(coverage_add(c, 1, 0, 1000, 2000), 0);   /* backfill A */
  gap(c, 1, 0, 1500, 2001, INT64_MAX);                      /* backfill B from 1500 */
  coverage_free(c);
}

static void test_alarm_cadence(void **state) {
  (void)state;
  alarmcad_t *c = alarmcad_new();
  assert_non_null(c);
  const int64_t I = 600, IDLE = 6 * 3600, M = ALARMCAD_INGEST_MARGIN_S;
  int64_t now = 1000000;
  int64_t begin = now - M + 1; /* just asked */
  /* no record yet, just asked: not due until the idle interval */
  assert_false(alarmcad_due(c, 3, begin, now, I, IDLE));
  assert_true(alarmcad_due(c, 3, begin, now + IDLE, I, IDLE)); /* (c) */
  /* a first record is a change: due once the interval has passed */
  alarmcad_record_t r = {.gpstime = 10, .heard = 10, .datastatus = 2, .accstatus = 1,
                         .defencestatus = -1};
  assert_int_equal(alarmcad_track(c, 3, &r, now), 0);
  assert_false(alarmcad_due(c, 3, begin, now + 10, I, IDLE));
  assert_true(alarmcad_due(c, 3, begin, now + I, I, IDLE)); /* (a) */
  alarmcad_asked(c, 3, now + I);
  begin = now + I - M + 1;
  /* the same record again: no change, only the idle cadence */
  assert_int_equal(alarmcad_track(c, 3, &r, now + I + 5), 0);
  assert_false(alarmcad_due(c, 3, begin, now + 2 * I + 5, I, IDLE));
  /* accstatus changes: (a) again, at most once per interval */
  r.accstatus = 0;
  assert_int_equal(alarmcad_track(c, 3, &r, now + I + 10), 0);
  assert_false(alarmcad_due(c, 3, begin, now + I + 20, I, IDLE));
  assert_true(alarmcad_due(c, 3, begin, now + 2 * I, I, IDLE));
  alarmcad_asked(c, 3, now + 2 * I);
  begin = now + 2 * I - M + 1;
  /* datastatus online -> offline: due at once, whatever the interval (b) */
  r.datastatus = 4;
  assert_int_equal(alarmcad_track(c, 3, &r, now + 2 * I + 7), 0);
  assert_int_equal(alarmcad_urgent_at(c, 3), now + 2 * I + 7);
  assert_true(alarmcad_due(c, 3, begin, now + 2 * I + 7, I, IDLE));
  alarmcad_asked(c, 3, now + 2 * I + 7);
  assert_int_equal(alarmcad_urgent_at(c, 3), 0);
  assert_false(alarmcad_due(c, 3, now + 2 * I + 7 - M + 1, now + 2 * I + 8, I, IDLE));
  alarmcad_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_merge_overlap_and_touch),
      cmocka_unit_test(test_jobs_ask_only_gaps),
      cmocka_unit_test(test_alarm_cadence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
