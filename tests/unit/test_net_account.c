/* Unit tests for net/account: the token generation rule behind "one login per token
 * death", refresh timing from expires_in, stopping, and md5 validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/account.h"

#define MD5 "9D591136280B3EC563E3062DBB6F915B"

static void test_new_validates_and_folds_md5(void **state) {
  (void)state;
  assert_null(account_new("demo", "not hex"));
  assert_null(account_new("demo", "9d591136280b3ec563e3062dbb6f915")); /* 31 digits */
  account_t *a = account_new("demo", MD5);
  assert_non_null(a);
  assert_string_equal(a->password_md5, "9d591136280b3ec563e3062dbb6f915b");
  assert_int_equal(a->state, ACCOUNT_NO_TOKEN);
  assert_false(account_token_usable(a, 0));
  account_free(a);
  account_free(NULL);
}

static void test_refresh_at_fraction_of_expires_in(void **state) {
  (void)state;
  account_t *a = account_new("demo", MD5);
  assert_int_equal(account_logged_in(a, "tok1", 7200, 0.75, 1000), 0);
  assert_int_equal(a->gen, 1);
  assert_true(account_token_usable(a, 1000));
  assert_true(account_token_usable(a, 1000 + 5400 * 1000 - 1)); /* 90 of 120 min */
  assert_false(account_token_usable(a, 1000 + 5400 * 1000));
  assert_int_equal(account_logged_in(a, "tok2", 3600, 0.75, 0), 0); /* trust expires_in */
  assert_int_equal(a->gen, 2);
  assert_false(account_token_usable(a, 2700 * 1000));
  assert_string_equal(a->token, "tok2");
  account_free(a);
}

static void test_token_failed_once_per_generation(void **state) {
  (void)state;
  account_t *a = account_new("demo", MD5);
  assert_int_equal(account_logged_in(a, "tok1", 7200, 0.75, 0), 0);
  uint64_t gen = a->gen;
  /* fifty requests sent with tok1 fail: only the first asks for a login */
  int logins = 0;
  for (int i = 0; i < 50; i++) logins += account_token_failed(a, gen);
  assert_int_equal(logins, 1);
  assert_int_equal(a->state, ACCOUNT_NO_TOKEN);
  a->state = ACCOUNT_LOGGING_IN;
  assert_false(account_token_failed(a, gen)); /* a login is under way */
  assert_int_equal(account_logged_in(a, "tok2", 7200, 0.75, 0), 0);
  assert_false(account_token_failed(a, gen)); /* late failures of tok1: already replaced */
  assert_true(account_token_failed(a, a->gen)); /* tok2 itself dies: one more login */
  account_free(a);
}

static void test_stop_drops_token(void **state) {
  (void)state;
  account_t *a = account_new("demo", MD5);
  assert_int_equal(account_logged_in(a, "tok1", 7200, 0.75, 0), 0);
  account_stop(a, 20001, "20001 Account or password error");
  assert_int_equal(a->state, ACCOUNT_STOPPED);
  assert_null(a->token);
  assert_int_equal(a->stop_code, 20001);
  assert_false(account_token_usable(a, 0));
  assert_false(account_token_failed(a, a->gen));
  account_free(a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_new_validates_and_folds_md5),
    cmocka_unit_test(test_refresh_at_fraction_of_expires_in),
    cmocka_unit_test(test_token_failed_once_per_generation),
    cmocka_unit_test(test_stop_drops_token),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
