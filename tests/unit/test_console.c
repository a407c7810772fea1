/* console_query_param: the query-string reader of the console's endpoints. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "ops/console.h"

static void test_query_param(void **state) {
  (void)state;
  char v[16];
  assert_int_equal(console_query_param("imei=123&date=2026-11-03&tz=Europe%2FParis", "tz", v, sizeof v), 0);
  assert_string_equal(v, "Europe/Paris");
  assert_int_equal(console_query_param("imei=123&date=2026-11-03", "date", v, sizeof v), 0);
  assert_string_equal(v, "2026-11-03");
  assert_int_equal(console_query_param("a=x+y", "a", v, sizeof v), 0);
  assert_string_equal(v, "x y");
  assert_int_equal(console_query_param("flag&b=1", "flag", v, sizeof v), 0);
  assert_string_equal(v, "");
  assert_int_equal(console_query_param("imeis=1", "imei", v, sizeof v), -ENOENT);
  assert_int_equal(console_query_param("", "imei", v, sizeof v), -ENOENT);
  assert_int_equal(console_query_param("a=%zz", "a", v, sizeof v), -EINVAL);
  assert_int_equal(console_query_param("a=%00", "a", v, sizeof v), -EINVAL);
  assert_int_equal(console_query_param("a=%4", "a", v, sizeof v), -EINVAL);
  assert_int_equal(console_query_param("a=0123456789abcdef", "a", v, sizeof v), -EFBIG);
}

/* Every embedded file the pages refer to is there. */
static void test_assets(void **state) {
  (void)state;
  const char *want[] = {"map.html", "console.js", "console.css"};
  for (size_t i = 0; i < 3; i++) {
    const console_asset_t *a = console_assets;
    while (a->name && strcmp(a->name, want[i]) != 0) a++;
    assert_non_null(a->name);
    assert_true(a->len > 100);
    assert_int_equal(strlen(a->data), a->len);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_query_param),
    cmocka_unit_test(test_assets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
