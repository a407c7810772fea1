/* Unit tests for api/sign: the two test vectors of the spec (2.1, 2.16). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api/sign.h"

static void test_md5_of_password_vector_2_16(void **state) {
  (void)state;
  char out[API_MD5_HEX_LEN + 1];
  assert_int_equal(api_md5_hex("Abc@34590", 9, out), 0);
  assert_string_equal(out, "9d591136280b3ec563e3062dbb6f915b");
}

static void test_signature_vector_2_1(void **state) {
  (void)state;
  char md5[API_MD5_HEX_LEN + 1], sig[API_MD5_HEX_LEN + 1];
  assert_int_equal(api_md5_hex("Abc@34590", 9, md5), 0);
  assert_int_equal(api_signature(md5, 1556243443, sig), 0);
  assert_string_equal(sig, "3844afd2c3bf68f0f3f4aa0a9ee8ee6c");
  /* Another time gives another signature. */
  assert_int_equal(api_signature(md5, 1556243444, sig), 0);
  assert_string_not_equal(sig, "3844afd2c3bf68f0f3f4aa0a9ee8ee6c");
}

static void test_signature_from_upper_case_md5(void **state) {
  (void)state;
  char sig[API_MD5_HEX_LEN + 1];
  assert_int_equal(api_signature("9D591136280B3EC563E3062DBB6F915B", 1556243443, sig), 0);
  assert_string_equal(sig, "3844afd2c3bf68f0f3f4aa0a9ee8ee6c");
}

static void test_signature_rejects_non_md5(void **state) {
  (void)state;
  char sig[API_MD5_HEX_LEN + 1];
  assert_int_equal(api_signature("Abc@34590", 1, sig), -EINVAL);
  assert_int_equal(api_signature("9d591136280b3ec563e3062dbb6f915", 1, sig), -EINVAL);
  assert_int_equal(api_signature("9d591136280b3ec563e3062dbb6f915bb", 1, sig), -EINVAL);
  assert_int_equal(api_signature("9d591136280b3ec563e3062dbb6f915g", 1, sig), -EINVAL);
  assert_int_equal(api_signature(NULL, 1, sig), -EINVAL);
  assert_true(api_is_md5_hex("9d591136280b3ec563e3062dbb6f915b"));
  assert_false(api_is_md5_hex(""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_md5_of_password_vector_2_16),
    cmocka_unit_test(test_signature_vector_2_1),
    cmocka_unit_test(test_signature_from_upper_case_md5),
    cmocka_unit_test(test_signature_rejects_non_md5),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
