/* Unit tests for util/timeparse: exact milliseconds and UNIX seconds (reference values
 * from `date -u -d ... +%s`), and the errors of each rejected form. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/timeparse.h"

static int64_t dur(const char *s) {
  int64_t ms = -12345;
  char err[TIMEPARSE_ERR_MAX];
  int rc = timeparse_duration(s, &ms, err, sizeof err);
  if (rc != 0) fail_msg("'%s' rejected: %s", s, err);
  return ms;
}

static void dur_bad(const char *s, const char *reason_part) {
  int64_t ms = 777;
  char err[TIMEPARSE_ERR_MAX] = "";
  assert_int_equal(timeparse_duration(s, &ms, err, sizeof err), -EINVAL);
  assert_int_equal(ms, 777); /* untouched on error */
  if (!strstr(err, reason_part)) fail_msg("'%s': error '%s' lacks '%s'", s, err, reason_part);
}

static void test_duration_units(void **state) {
  (void)state;
  assert_int_equal(dur("500ms"), 500);
  assert_int_equal(dur("30s"), 30000);
  assert_int_equal(dur("10m"), 600000);
  assert_int_equal(dur("2h"), 7200000);
  assert_int_equal(dur("3d"), 259200000);
  assert_int_equal(dur("0s"), 0);
  assert_int_equal(dur("0ms"), 0);
  assert_int_equal(dur("1h30m"), 5400000);
  assert_int_equal(dur("1d2h3m4s5ms"), 86400000 + 7200000 + 180000 + 4000 + 5);
  assert_int_equal(dur("90s"), 90000); /* a unit need not be normalised */
  assert_int_equal(dur("007s"), 7000);
}

static void test_duration_errors(void **state) {
  (void)state;
  dur_bad("", "empty");
  dur_bad("30", "missing unit");
  dur_bad("0", "missing unit");
  dur_bad("1h30", "missing unit");
  dur_bad("30x", "unknown unit 'x'");
  dur_bad("30 s", "unknown unit ' s'");
  dur_bad("30S", "unknown unit 'S'");
  dur_bad("s", "expected a number");
  dur_bad("-5s", "no sign");
  dur_bad("+5s", "no sign");
  dur_bad("1.5h", "fractions");
  dur_bad("30m1h", "out of order");
  dur_bad("1s1s", "repeated");
  dur_bad("5ms1s", "out of order");
  dur_bad("9223372036854775808ms", "too large");
  dur_bad("106751991168d", "too large"); /* * 86400000 overflows int64 */
  dur_bad("106751991167d8h", "too large"); /* the sum overflows */
  assert_int_equal(timeparse_duration("x", &(int64_t){0}, NULL, 0), -EINVAL); /* err optional */
}

static void test_duration_limits(void **state) {
  (void)state;
  assert_int_equal(dur("9223372036854775807ms"), INT64_MAX);
  /* INT64_MAX ms = 106751991167 d + 25975807 ms */
  assert_int_equal(dur("106751991167d"), (int64_t)106751991167 * 86400000);
  assert_int_equal(dur("106751991167d7h"), (int64_t)106751991167 * 86400000 + (int64_t)7 * 3600000);
  assert_int_equal(dur("106751991167d25975807ms"), INT64_MAX);
  dur_bad("106751991167d25975808ms", "too large");
  dur_bad("9223372036854775s808ms", "too large");
  assert_int_equal(dur("9223372036854775s807ms"), INT64_MAX);
}

static void test_duration_format_round_trip(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(timeparse_format_duration(0, out, sizeof out), "0s");
  assert_string_equal(timeparse_format_duration(500, out, sizeof out), "500ms");
  assert_string_equal(timeparse_format_duration(90000, out, sizeof out), "1m30s");
  assert_string_equal(timeparse_format_duration(5400000, out, sizeof out), "1h30m");
  assert_string_equal(timeparse_format_duration(604800000, out, sizeof out), "7d");
  assert_string_equal(timeparse_format_duration(86400000 + 1, out, sizeof out), "1d1ms");
  const int64_t samples[] = {1, 999, 1000, 61001, 3600000, 86399999, INT64_MAX};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
    assert_int_equal(dur(timeparse_format_duration(samples[i], out, sizeof out)), samples[i]);
}

static int64_t tm_ok(const char *s) {
  int64_t t = -1;
  char err[TIMEPARSE_ERR_MAX];
  if (timeparse_time(s, &t, err, sizeof err) != 0) fail_msg("'%s' rejected: %s", s, err);
  return t;
}

static void tm_bad(const char *s, const char *reason_part) {
  int64_t t = 777;
  char err[TIMEPARSE_ERR_MAX] = "";
  assert_int_equal(timeparse_time(s, &t, err, sizeof err), -EINVAL);
  assert_int_equal(t, 777);
  if (!strstr(err, reason_part)) fail_msg("'%s': error '%s' lacks '%s'", s, err, reason_part);
}

static void test_time_forms(void **state) {
  (void)state;
  assert_int_equal(tm_ok("2026-11-01"), 1793491200);
  assert_int_equal(tm_ok("2025-11-01"), 1761955200);
  assert_int_equal(tm_ok("1761955200"), 1761955200);
  assert_int_equal(tm_ok("0"), 0);
  assert_int_equal(tm_ok("1970-01-01"), 0);
  assert_int_equal(tm_ok("2026-11-01T06:30:00Z"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01t06:30:00z"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01 06:30:00Z"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01T06:30Z"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01T08:30:00+02:00"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01T08:30:00+0200"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01T08:30:00+02"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01T01:00:00-05:30"), 1793514600);
  assert_int_equal(tm_ok("2026-11-01T06:30:00-00:00"), 1793514600);
  /* an offset that crosses midnight backwards */
  assert_int_equal(tm_ok("2026-11-01T01:00:00+02:00"), 1793491200 - 3600);
  assert_int_equal(tm_ok("2000-02-29"), 951782400);
  assert_int_equal(tm_ok("2024-02-29T12:00:00Z"), 1709208000);
  assert_int_equal(tm_ok("9999-12-31T23:59:59Z"), 253402300799);
  assert_int_equal(tm_ok("0001-01-01"), -62135596800);
  assert_int_equal(tm_ok("9223372036854775807"), INT64_MAX);
}

static void test_time_errors(void **state) {
  (void)state;
  tm_bad("", "empty");
  tm_bad("2026-11-01T06:30:00", "needs a zone");
  tm_bad("2026-11-01T06:30:00.5Z", "fractional seconds");
  tm_bad("2026-11-01T06:30:00,5Z", "fractional seconds");
  tm_bad("2026-02-29", "does not exist");
  tm_bad("1900-02-29", "does not exist");
  tm_bad("2026-13-01", "month 13");
  tm_bad("2026-00-10", "month 00");
  tm_bad("2026-04-31", "does not exist");
  tm_bad("2026-11-01T24:00:00Z", "does not exist");
  tm_bad("2026-11-01T23:59:60Z", "does not exist");
  tm_bad("2026-11-01T06:61Z", "does not exist");
  tm_bad("2026-11-01T06:30:00+24:00", "offset out of range");
  tm_bad("2026-11-01T06:30:00+2", "bad UTC offset");
  tm_bad("2026-11-01T06:30:00+02:0", "bad UTC offset");
  tm_bad("2026-11-01T06:30:00Zx", "after the zone");
  tm_bad("2026-11-01T06:30:00 UTC", "after the time of day");
  tm_bad("2026-11-01x", "after the date");
  tm_bad("2026-1-01", "bad date");
  tm_bad("26-11-01", "bad date");
  tm_bad("0000-01-01", "out of range");
  tm_bad("-1", "bad date");
  tm_bad("yesterday", "bad date");
  tm_bad("9223372036854775808", "too large");
  tm_bad("2026-11-01T6:30Z", "bad time of day");
}

static void test_days_and_format_time(void **state) {
  (void)state;
  assert_int_equal(timeparse_days_from_civil(1970, 1, 1), 0);
  assert_int_equal(timeparse_days_from_civil(1969, 12, 31), -1);
  assert_int_equal(timeparse_days_from_civil(2000, 3, 1), 11017);
  char out[32];
  assert_string_equal(timeparse_format_time(1793514600, out, sizeof out), "2026-11-01T06:30:00Z");
  assert_string_equal(timeparse_format_time(0, out, sizeof out), "1970-01-01T00:00:00Z");
  assert_string_equal(timeparse_format_time(-1, out, sizeof out), "1969-12-31T23:59:59Z");
  assert_string_equal(timeparse_format_time(951782400, out, sizeof out), "2000-02-29T00:00:00Z");
  /* every day over 1600-2400 round-trips through format and parse */
  for (int64_t d = timeparse_days_from_civil(1600, 1, 1); d < timeparse_days_from_civil(2400, 1, 1); d += 1) {
    int64_t t = d * 86400 + 45296; /* 12:34:56 */
    assert_int_equal(tm_ok(timeparse_format_time(t, out, sizeof out)), t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_duration_units),
    cmocka_unit_test(test_duration_errors),
    cmocka_unit_test(test_duration_limits),
    cmocka_unit_test(test_duration_format_round_trip),
    cmocka_unit_test(test_time_forms),
    cmocka_unit_test(test_time_errors),
    cmocka_unit_test(test_days_and_format_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
