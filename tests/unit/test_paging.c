/* Unit tests for archive/paging: the 1000/100-record rules and the NOTES.md traps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "archive/paging.h"

static int64_t times_buf[1000];

static void fill(int64_t start, int64_t step, size_t n) {
  for (size_t i = 0; i < n; i++) times_buf[i] = start + (int64_t)i * step;
}

static void test_short_page_is_done_and_cursor_rests_on_last(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 100, .have_begin = false};
  paging_result_t r;
  fill(100, 10, 5);
  assert_int_equal(paging_apply(&c, 1000, times_buf, 5, 5, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_int_equal(r.step, PAGING_DONE);
  assert_int_equal(r.first_new, 0); /* the first page has no boundary to drop */
  assert_int_equal(c.begin, 140);
  assert_true(c.have_begin);
}

static void test_full_page_asks_again_from_last_and_drops_boundary(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 0, .have_begin = false};
  paging_result_t r;
  fill(0, 10, 1000);
  assert_int_equal(paging_apply(&c, 100000, times_buf, 1000, 1000, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_int_equal(r.step, PAGING_MORE);
  assert_int_equal(c.begin, 9990);
  /* The next page: exactly the boundary record alone. It is dropped, and it ends paging. */
  times_buf[0] = 9990;
  assert_int_equal(paging_apply(&c, 100000, times_buf, 1, 1, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_int_equal(r.step, PAGING_DONE);
  assert_int_equal(r.first_new, 1);
  assert_int_equal(c.begin, 9990);
}

static void test_alarms_keep_boundary_for_the_unique_key(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 50, .have_begin = true};
  paging_result_t r;
  fill(50, 1, 100);
  assert_int_equal(paging_apply(&c, 1000, times_buf, 100, 100, PAGING_ALARM_PAGE, false, &r), 0);
  assert_int_equal(r.first_new, 0);
  assert_int_equal(r.step, PAGING_MORE);
  assert_int_equal(c.begin, 149);
}

static void test_full_page_of_one_timestamp_cannot_loop(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 500, .have_begin = false};
  paging_result_t r;
  fill(500, 0, 1000);
  assert_int_equal(paging_apply(&c, 9000, times_buf, 1000, 1000, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_true(r.guard_fired);
  assert_int_equal(r.skipped_time, 500);
  assert_int_equal(r.step, PAGING_MORE);
  assert_int_equal(c.begin, 501); /* strictly past: the next request differs */
  assert_false(c.have_begin);

  /* The same when the page starts after the cursor but is all one time: no guard, the
   * next request from that time is a different request and drops what it has. */
  paging_cursor_t d = {.begin = 400, .have_begin = false};
  assert_int_equal(paging_apply(&d, 9000, times_buf, 1000, 1000, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_false(r.guard_fired);
  assert_int_equal(d.begin, 500);
  assert_true(d.have_begin);
  /* ...and then the identical page comes back: now the guard fires. */
  assert_int_equal(paging_apply(&d, 9000, times_buf, 1000, 1000, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_true(r.guard_fired);
  assert_int_equal(r.first_new, 1000);
  assert_int_equal(d.begin, 501);
}

static void test_rule_breaking_page_leaves_cursor(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 100, .have_begin = true};
  paging_result_t r;
  int64_t bad_order[3] = {100, 120, 110};
  assert_int_equal(paging_apply(&c, 1000, bad_order, 3, 3, PAGING_PLAYBACK_PAGE, true, &r), -EINVAL);
  int64_t before[2] = {90, 120};
  assert_int_equal(paging_apply(&c, 1000, before, 2, 2, PAGING_PLAYBACK_PAGE, true, &r), -EINVAL);
  int64_t after[1] = {1001};
  assert_int_equal(paging_apply(&c, 1000, after, 1, 1, PAGING_PLAYBACK_PAGE, true, &r), -EINVAL);
  fill(100, 1, 101);
  assert_int_equal(paging_apply(&c, 1000, times_buf, 101, 101, PAGING_ALARM_PAGE, false, &r), -EINVAL);
  assert_int_equal(c.begin, 100);
  assert_true(c.have_begin);
}

static void test_empty_page_is_done_without_moving(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 100, .have_begin = false};
  paging_result_t r;
  assert_int_equal(paging_apply(&c, 1000, NULL, 0, 0, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_int_equal(r.step, PAGING_DONE);
  assert_int_equal(c.begin, 100);
  assert_false(c.have_begin);
}

/* A full answer (raw records as sent) that lost records to validation at ingest is still
 * full: the next page is asked, from the last record kept (spec 2.3, 2.8: a full page
 * means "ask again"). A short answer is short whatever was kept. */
static void test_raw_full_page_with_refused_records_asks_again(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 0, .have_begin = false};
  paging_result_t r;
  fill(0, 10, 999); /* 1000 sent, one refused: 999 kept */
  assert_int_equal(paging_apply(&c, 100000, times_buf, 999, 1000, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_int_equal(r.step, PAGING_MORE);
  assert_int_equal(c.begin, 9980);
  assert_true(c.have_begin);
  /* alarms: 100 sent, 40 refused */
  paging_cursor_t a = {.begin = 50, .have_begin = false};
  fill(50, 1, 60);
  assert_int_equal(paging_apply(&a, 1000, times_buf, 60, 100, PAGING_ALARM_PAGE, false, &r), 0);
  assert_int_equal(r.step, PAGING_MORE);
  assert_int_equal(a.begin, 109);
  /* 999 sent (short), 10 refused: done */
  paging_cursor_t s = {.begin = 0, .have_begin = false};
  fill(0, 10, 989);
  assert_int_equal(paging_apply(&s, 100000, times_buf, 989, 999, PAGING_PLAYBACK_PAGE, true, &r), 0);
  assert_int_equal(r.step, PAGING_DONE);
}

/* A full answer whose every record was refused gives nothing to page on from: -ENODATA,
 * the cursor unchanged; more kept than sent breaks the rules. */
static void test_raw_full_page_all_refused_and_bad_counts(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 100, .have_begin = true};
  paging_result_t r;
  assert_int_equal(paging_apply(&c, 1000, NULL, 0, 100, PAGING_ALARM_PAGE, false, &r), -ENODATA);
  assert_int_equal(c.begin, 100);
  assert_true(c.have_begin);
  fill(100, 1, 5);
  assert_int_equal(paging_apply(&c, 1000, times_buf, 5, 4, PAGING_ALARM_PAGE, false, &r), -EINVAL);
  assert_int_equal(c.begin, 100);
}

static void test_playback_due_only_when_moved(void **state) {
  (void)state;
  paging_cursor_t c = {.begin = 1000, .have_begin = true};
  assert_false(paging_playback_due(&c, 1000));
  assert_false(paging_playback_due(&c, 999));
  assert_true(paging_playback_due(&c, 1001));
  c.have_begin = false;
  assert_true(paging_playback_due(&c, 1000));
}

static void test_mileage_days_aligned(void **state) {
  (void)state;
  int64_t days[10];
  /* 2026-11-01T06:30Z .. 2026-11-03T00:00Z: the days of Nov 1 and Nov 2. */
  int64_t nov1 = 1793491200;
  assert_int_equal(paging_mileage_days(nov1 + 6 * 3600 + 1800, nov1 + 2 * 86400, days, 10), 2);
  assert_int_equal(days[0], nov1);
  assert_int_equal(days[1], nov1 + 86400);
  assert_int_equal(paging_mileage_days(nov1, nov1, days, 10), 0);
  assert_int_equal(paging_mileage_days(nov1, nov1 + 30 * 86400, days, 10), 30);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_short_page_is_done_and_cursor_rests_on_last),
    cmocka_unit_test(test_full_page_asks_again_from_last_and_drops_boundary),
    cmocka_unit_test(test_alarms_keep_boundary_for_the_unique_key),
    cmocka_unit_test(test_full_page_of_one_timestamp_cannot_loop),
    cmocka_unit_test(test_rule_breaking_page_leaves_cursor),
    cmocka_unit_test(test_empty_page_is_done_without_moving),
    cmocka_unit_test(test_raw_full_page_with_refused_records_asks_again),
    cmocka_unit_test(test_raw_full_page_all_refused_and_bad_counts),
    cmocka_unit_test(test_playback_due_only_when_moved),
    cmocka_unit_test(test_mileage_days_aligned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
