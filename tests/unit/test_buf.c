/* Unit tests for util/buf: growth, NUL termination, the size cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/buf.h"

static void test_append_grows_and_terminates(void **state) {
  (void)state;
  buf_t b = BUF_INIT;
  for (int i = 0; i < 1000; i++) assert_int_equal(buf_printf(&b, "%d,", i % 10), 0);
  assert_int_equal(b.len, 2000);
  assert_int_equal(b.data[b.len], '\0');
  assert_memory_equal(b.data, "0,1,2,", 6);
  buf_free(&b);
  assert_null(b.data);
}

static void test_limit_refuses_without_partial_append(void **state) {
  (void)state;
  buf_t b = BUF_INIT;
  b.limit = 10;
  assert_int_equal(buf_puts(&b, "12345678"), 0);
  assert_int_equal(buf_puts(&b, "abc"), -EFBIG);
  assert_int_equal(b.len, 8);
  assert_string_equal(b.data, "12345678");
  assert_int_equal(buf_puts(&b, "ab"), 0);
  assert_int_equal(b.len, 10);
  buf_free(&b);
}

static void test_steal_empty_is_empty_string(void **state) {
  (void)state;
  buf_t b = BUF_INIT;
  char *s = buf_steal(&b);
  assert_non_null(s);
  assert_string_equal(s, "");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_append_grows_and_terminates),
    cmocka_unit_test(test_limit_refuses_without_partial_append),
    cmocka_unit_test(test_steal_empty_is_empty_string),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
