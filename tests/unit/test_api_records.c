/* Unit tests for the record-string parsers of playback (2.3) and alarms (2.8): values,
 * the empty string, the trailing ';', and errors naming the 0-based group index. */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"

/* An exact-size heap copy without NUL, so ASan catches a read past len. */
static char *copy(const char *s, size_t *len) {
  *len = strlen(s);
  char *p = malloc(*len ? *len : 1);
  assert_non_null(p);
  memcpy(p, s, *len);
  return p;
}

static int points(const char *s, api_points_t *out, api_error_t *err) {
  size_t len;
  char *p = copy(s, &len);
  int rc = api_records_parse_points(p, len, out, err);
  free(p);
  return rc;
}

static int alarms(const char *s, api_alarms_t *out, api_error_t *err) {
  size_t len;
  char *p = copy(s, &len);
  int rc = api_records_parse_alarms(p, len, out, err);
  free(p);
  return rc;
}

static void test_points_values(void **state) {
  (void)state;
  api_points_t p = {0};
  api_error_t err;
  assert_int_equal(points("113.97196,22.568616,1406858664,0,228;-0.5,-89.999999,0,-1,360", &p, &err), 0);
  assert_int_equal(p.n, 2);
  assert_true(p.items[0].longitude == 113.97196);
  assert_true(p.items[0].latitude == 22.568616);
  assert_int_equal(p.items[0].gpstime, 1406858664);
  assert_int_equal(p.items[0].course, 228);
  assert_true(p.items[1].longitude == -0.5);
  assert_true(p.items[1].latitude == -89.999999);
  assert_int_equal(p.items[1].gpstime, 0);
  assert_int_equal(p.items[1].speed, API_UNKNOWN);
  assert_int_equal(p.items[1].course, 360);
  /* Integers as coordinates, the range ends, long fractions (the strtod_l path). */
  assert_int_equal(points("180,-90,1,0,0;-180,90,2,5,1;12.34567890123456789012,1.0000000000000000000001,3,0,0",
                          &p, &err), 0);
  assert_int_equal(p.n, 3);
  assert_true(p.items[0].longitude == 180.0);
  assert_true(p.items[2].longitude == 12.34567890123456789012);
  assert_true(p.items[2].latitude == 1.0000000000000000000001);
  api_points_free(&p);
  api_points_free(NULL);
}

static void test_empty_and_trailing_semicolon(void **state) {
  (void)state;
  api_points_t p = {0};
  api_error_t err;
  assert_int_equal(points("", &p, &err), 0);
  assert_int_equal(p.n, 0);
  /* One trailing ';' ends the last group (accepted). */
  assert_int_equal(points("1,2,3,4,5;", &p, &err), 0);
  assert_int_equal(p.n, 1);
  /* But not an empty group anywhere else. */
  assert_int_equal(points("1,2,3,4,5;;", &p, &err), -EBADMSG);
  assert_int_equal(err.kind, API_ERR_RECORD);
  assert_int_equal(err.offset, 1);
  assert_string_equal(err.message, "record group 1 (0-based): empty group: \"\"");
  assert_int_equal(points(";1,2,3,4,5", &p, &err), -EBADMSG);
  assert_int_equal(err.offset, 0);
  assert_int_equal(points(";", &p, &err), -EBADMSG);
  assert_int_equal(points("1,2,3,4,5;;1,2,3,4,5", &p, &err), -EBADMSG);
  assert_int_equal(err.offset, 1);
  api_points_free(&p);
}

static void test_point_errors_name_index(void **state) {
  (void)state;
  api_points_t p = {0};
  api_error_t err;
  struct {
    const char *in;
    size_t index;
    const char *message;
  } cases[] = {
    {"1,2,3,4,5;1,2,3,4", 1, "record group 1 (0-based): 4 fields, expected 5: \"1,2,3,4\""},
    {"1,2,3,4,5,6", 0, "record group 0 (0-based): 6 fields, expected 5: \"1,2,3,4,5,6\""},
    {"1,2,3,4,5;1,2,3,4,5;181,2,3,4,5", 2, "record group 2 (0-based): longitude outside -180..180: \"181,2,3,4,5\""},
    {"1,-90.5,3,4,5", 0, "record group 0 (0-based): latitude outside -90..90: \"1,-90.5,3,4,5\""},
    {"1,2,3.5,4,5", 0, "record group 0 (0-based): gpstime is not an integer: \"1,2,3.5,4,5\""},
    {"1,2,-3,4,5", 0, "record group 0 (0-based): gpstime is negative: \"1,2,-3,4,5\""},
    {"1,2,99999999999999999999,4,5", 0, "record group 0 (0-based): gpstime is not an integer: \"1,2,99999999999999999999,4,5\""},
    {"1,2,3,-2,5", 0, "record group 0 (0-based): speed outside -1..100000: \"1,2,3,-2,5\""},
    {"1,2,3,4,361", 0, "record group 0 (0-based): course outside 0..360: \"1,2,3,4,361\""},
    {"1,2,3,4,", 0, "record group 0 (0-based): course is not an integer: \"1,2,3,4,\""},
    {" 1,2,3,4,5", 0, "record group 0 (0-based): longitude is not a decimal number: \" 1,2,3,4,5\""},
    {"1e2,2,3,4,5", 0, "record group 0 (0-based): longitude is not a decimal number: \"1e2,2,3,4,5\""},
    {"1.,2,3,4,5", 0, "record group 0 (0-based): longitude is not a decimal number: \"1.,2,3,4,5\""},
    {".5,2,3,4,5", 0, "record group 0 (0-based): longitude is not a decimal number: \".5,2,3,4,5\""},
    {"+1,2,3,4,5", 0, "record group 0 (0-based): longitude is not a decimal number: \"+1,2,3,4,5\""},
    {"1,2,3,4,5\xff", 0, "record group 0 (0-based): course is not an integer: \"1,2,3,4,5?\""},
    {"1,2,3,4,5\n", 0, "record group 0 (0-based): course is not an integer: \"1,2,3,4,5?\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(points(cases[i].in, &p, &err), -EBADMSG);
    assert_int_equal(err.kind, API_ERR_RECORD);
    assert_int_equal(err.offset, cases[i].index);
    assert_string_equal(err.message, cases[i].message);
  }
  /* A long group is shown cut at 60 characters. */
  char big[200];
  snprintf(big, sizeof big, "1,2,3,4,5;1.%0150d,2,3,4,x", 0);
  assert_int_equal(points(big, &p, &err), -EBADMSG);
  assert_int_equal(err.offset, 1);
  assert_non_null(strstr(err.message, "record group 1 (0-based): "));
  assert_non_null(strstr(err.message, "...\""));
  assert_true(strlen(err.message) < 160);
  api_points_free(&p);
}

static void test_alarms(void **state) {
  (void)state;
  api_alarms_t a = {0};
  api_error_t err;
  assert_int_equal(alarms("27,113.885888,22.580592,1541575497,1541575507,40,40,0;"
                          "5,1,2,10,11,0,90,123456", &a, &err), 0);
  assert_int_equal(a.n, 2);
  assert_int_equal(a.items[0].type, 27);
  assert_int_equal(a.items[0].systemtime, 1541575507);
  assert_int_equal(a.items[1].type, 5);
  assert_int_equal(a.items[1].gpstime, 10);
  assert_int_equal(a.items[1].systemtime, 11);
  assert_int_equal(a.items[1].course, 90);
  assert_int_equal(a.items[1].geofenceid, 123456);
  assert_int_equal(alarms("27,1,2,3,4,5,6,0;27,1,2,3,4,5,6", &a, &err), -EBADMSG);
  assert_int_equal(err.offset, 1);
  assert_string_equal(err.message, "record group 1 (0-based): 7 fields, expected 8: \"27,1,2,3,4,5,6\"");
  assert_int_equal(a.n, 1); /* what was parsed before the fault; the JSON path empties it */
  assert_int_equal(alarms("27,1,2,3,-4,5,6,0", &a, &err), -EBADMSG);
  assert_string_equal(err.message, "record group 0 (0-based): systemtime is negative: \"27,1,2,3,-4,5,6,0\"");
  assert_int_equal(alarms("x,1,2,3,4,5,6,0", &a, &err), -EBADMSG);
  assert_string_equal(err.message, "record group 0 (0-based): alarm type is not an integer: \"x,1,2,3,4,5,6,0\"");
  assert_int_equal(alarms("1,1,2,3,4,5,6,-1", &a, &err), -EBADMSG);
  assert_string_equal(err.message, "record group 0 (0-based): geofence id is negative: \"1,1,2,3,4,5,6,-1\"");
  api_alarms_free(&a);
}

static void test_thousand_rows_reuse_capacity(void **state) {
  (void)state;
  buf_t b = BUF_INIT;
  for (int i = 0; i < 1000; i++)
    assert_int_equal(buf_printf(&b, "%s113.%06d,22.%06d,%d,%d,%d", i ? ";" : "", i, 999 - i,
                                1406858664 + 10 * i, i % 120, i % 361), 0);
  api_points_t p = {0};
  api_error_t err;
  assert_int_equal(api_records_parse_points(b.data, b.len, &p, &err), 0);
  assert_int_equal(p.n, 1000);
  assert_int_equal(p.items[999].gpstime, 1406858664 + 9990);
  assert_true(p.items[999].longitude == 113.000999);
  assert_int_equal(p.items[999].course, 999 % 361);
  api_point_t *items = p.items;
  size_t cap = p.cap;
  assert_int_equal(api_records_parse_points(b.data, b.len, &p, &err), 0);
  assert_ptr_equal(p.items, items); /* no reallocation for the second page */
  assert_int_equal(p.cap, cap);
  api_points_free(&p);
  buf_free(&b);
}

static void test_locale_independent(void **state) {
  (void)state;
  if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
    skip(); /* no locale with a decimal comma on this machine */
  }
  api_points_t p = {0};
  api_error_t err;
  assert_int_equal(points("12.34567890123456789012,1.5,3,0,0", &p, &err), 0);
  assert_true(p.items[0].latitude == 1.5);
  assert_true(p.items[0].longitude > 12.3456 && p.items[0].longitude < 12.3457);
  setlocale(LC_NUMERIC, "C");
  api_points_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_points_values),
    cmocka_unit_test(test_empty_and_trailing_semicolon),
    cmocka_unit_test(test_point_errors_name_index),
    cmocka_unit_test(test_alarms),
    cmocka_unit_test(test_thousand_rows_reuse_capacity),
    cmocka_unit_test(test_locale_independent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
