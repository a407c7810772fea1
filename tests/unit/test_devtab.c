/* Unit tests for archive/devtab: lookup, growth, leading zeros, bad IMEIs, size, and the
 * sets of device indices (against a plain array of flags). */
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

static devtab_t *table_of(size_t n) {
  devtab_t *t = devtab_new();
  assert_non_null(t);
  char imei[32];
  for (size_t i = 0; i < n; i++) {
    snprintf(imei, sizeof imei, "%015zu", i);
    assert_non_null(devtab_get_or_add(t, imei, NULL));
  }
  return t;
}

/* Every member of [from, to), in order, as devtab_set_next gives them. */
static size_t members(const devtab_t *t, devtab_set_t s, size_t from, size_t to, size_t *out) {
  size_t k = 0;
  for (int64_t i = devtab_set_next(t, s, from, to); i >= 0;
       i = devtab_set_next(t, s, (size_t)i + 1, to))
    out[k++] = (size_t)i;
  return k;
}

static void test_set_basics(void **state) {
  (void)state;
  devtab_t *t = table_of(10000);
  size_t out[16];
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_PAGES), 0);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_PAGES, 0, 10000), -1);
  /* far apart (more than 4096 devices: another summary word), twice, and the ends */
  devtab_set_add(t, DEVTAB_SET_PAGES, 9999);
  devtab_set_add(t, DEVTAB_SET_PAGES, 5);
  devtab_set_add(t, DEVTAB_SET_PAGES, 5);
  devtab_set_add(t, DEVTAB_SET_PAGES, 0);
  devtab_set_add(t, DEVTAB_SET_PAGES, 4160);
  devtab_set_add(t, DEVTAB_SET_PAGES, 10000); /* not a device: ignored */
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_PAGES), 4);
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_MILEAGE), 0); /* sets are apart */
  assert_false(devtab_set_has(t, DEVTAB_SET_MILEAGE, 5));
  assert_true(devtab_set_has(t, DEVTAB_SET_PAGES, 4160));
  assert_false(devtab_set_has(t, DEVTAB_SET_PAGES, 4161));
  assert_int_equal(members(t, DEVTAB_SET_PAGES, 0, 10000, out), 4);
  assert_int_equal(out[0], 0);
  assert_int_equal(out[1], 5);
  assert_int_equal(out[2], 4160);
  assert_int_equal(out[3], 9999);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_PAGES, 6, 4160), -1); /* to is exclusive */
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_PAGES, 6, 4161), 4160);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_PAGES, 4161, 1u << 30), 9999); /* capped */
  devtab_set_del(t, DEVTAB_SET_PAGES, 4160);
  devtab_set_del(t, DEVTAB_SET_PAGES, 4160);
  devtab_set_del(t, DEVTAB_SET_PAGES, 7); /* not a member */
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_PAGES), 3);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_PAGES, 6, 10000), 9999);
  devtab_free(t);
}

static void test_set_all_and_growth(void **state) {
  (void)state;
  devtab_t *t = devtab_new();
  devtab_set_add_all(t, DEVTAB_SET_BACKOFF); /* empty table: nothing */
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_BACKOFF), 0);
  devtab_free(t);
  t = table_of(4100);
  devtab_set_add_all(t, DEVTAB_SET_BACKOFF);
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_BACKOFF), 4100);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_BACKOFF, 4099, 99999), 4099);
  devtab_set_del(t, DEVTAB_SET_BACKOFF, 4099);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_BACKOFF, 4099, 99999), -1);
  /* growth keeps the members and adds the new devices to no set */
  char imei[32];
  for (size_t i = 4100; i < 20000; i++) {
    snprintf(imei, sizeof imei, "%015zu", i);
    bool added = false;
    assert_non_null(devtab_get_or_add(t, imei, &added));
    assert_true(added);
  }
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_BACKOFF), 4099);
  assert_true(devtab_set_has(t, DEVTAB_SET_BACKOFF, 4098));
  assert_false(devtab_set_has(t, DEVTAB_SET_BACKOFF, 4099));
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_BACKOFF, 4099, 20000), -1);
  devtab_set_add(t, DEVTAB_SET_BACKOFF, 19999);
  assert_int_equal(devtab_set_next(t, DEVTAB_SET_BACKOFF, 4099, 20000), 19999);
  devtab_device_t *d = devtab_at(t, 12345);
  assert_int_equal(devtab_index(t, d), 12345);
  devtab_set_add_all(t, DEVTAB_SET_BACKOFF);
  assert_int_equal(devtab_set_size(t, DEVTAB_SET_BACKOFF), 20000);
  devtab_free(t);
}

/* Random adds and deletes against an array of flags: membership, size and every
 * devtab_set_next from random starts agree. */
static void test_set_model(void **state) {
  (void)state;
  enum { N = 70000 };
  devtab_t *t = table_of(N);
  static bool model[N];
  size_t size = 0;
  srand(7);
  for (int round = 0; round < 40; round++) {
    /* dense in a narrow band or sparse over all: both ways of the summary */
    size_t lo = (size_t)rand() % N, span = round % 2 ? N : 300;
    for (int k = 0; k < 2000; k++) {
      size_t i = (lo + (size_t)rand() % span) % N;
      if (rand() % 3) {
        if (!model[i]) size++;
        model[i] = true;
        devtab_set_add(t, DEVTAB_SET_MILEAGE, i);
      } else {
        if (model[i]) size--;
        model[i] = false;
        devtab_set_del(t, DEVTAB_SET_MILEAGE, i);
      }
    }
    assert_int_equal(devtab_set_size(t, DEVTAB_SET_MILEAGE), size);
    for (int q = 0; q < 200; q++) {
      size_t from = (size_t)rand() % N, to = from + (size_t)rand() % (N - from + 1);
      int64_t want = -1;
      for (size_t i = from; i < to && want < 0; i++)
        if (model[i]) want = (int64_t)i;
      assert_int_equal(devtab_set_next(t, DEVTAB_SET_MILEAGE, from, to), want);
    }
    for (int q = 0; q < 200; q++) {
      size_t i = (size_t)rand() % N;
      assert_int_equal(devtab_set_has(t, DEVTAB_SET_MILEAGE, i), model[i]);
    }
  }
  devtab_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_add_find_100k),
    cmocka_unit_test(test_bad_imeis_refused),
    cmocka_unit_test(test_entry_is_small),
    cmocka_unit_test(test_set_basics),
    cmocka_unit_test(test_set_all_and_growth),
    cmocka_unit_test(test_set_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
