/* Unit tests for archive/devtab: lookup, growth, leading zeros, bad IMEIs, size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "archive/devtab.h"

static void test_add_find_100k(void **state) {
  (void)state;
  devtab_t *t = devtab_new();
  assert_non_null(t);
  char imei[32];
  for (int i = 0; i < 100000; i++) {
    snprintf(imei, sizeof imei, "%015d", i * 7);
    bool added = false;
    devtab_device_t *d = devtab_get_or_add(t, imei, &added);
    assert_non_null(d);
    assert_true(added);
    d->last_gpstime = i;
  }
  assert_int_equal(devtab_count(t), 100000);
  for (int i = 0; i < 100000; i += 997) {
    snprintf(imei, sizeof imei, "%015d", i * 7);
    int64_t at = devtab_find(t, imei);
    assert_true(at >= 0);
    assert_string_equal(devtab_at(t, (size_t)at)->imei, imei);
    assert_int_equal(devtab_at(t, (size_t)at)->last_gpstime, i);
  }
  /* Leading zeros matter: "0...07" and "7" are different devices. */
  assert_int_equal(devtab_find(t, "7"), -1);
  bool added = true;
  assert_non_null(devtab_get_or_add(t, "000000000000007", &added));
  assert_false(added);
  assert_int_equal(devtab_count(t), 100000);
  devtab_free(t);
}

static void test_bad_imeis_refused(void **state) {
  (void)state;
  devtab_t *t = devtab_new();
  assert_null(devtab_get_or_add(t, "", NULL));
  assert_null(devtab_get_or_add(t, "123456789012345678901", NULL));
  assert_null(devtab_get_or_add(t, "12 34", NULL));
  assert_null(devtab_get_or_add(t, "12\xc3\xa9", NULL));
  assert_int_equal(devtab_count(t), 0);
  assert_int_equal(devtab_find(t, "1"), -1);
  devtab_free(t);
  devtab_free(NULL);
}

static void test_entry_is_small(void **state) {
  (void)state;
  /* ARCHITECTURE.md: about 100 bytes a device. */
  assert_true(sizeof(devtab_device_t) <= 112);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_add_find_100k),
    cmocka_unit_test(test_bad_imeis_refused),
    cmocka_unit_test(test_entry_is_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
