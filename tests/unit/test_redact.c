/* util/redact: every secret parameter name, in every form an error page, a URL, a
 * conninfo or a JSON body may quote it, comes out masked; the rest untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "util/redact.h"

static void check(const char *in, const char *want) {
  char out[512];
  redact_copy(in, strlen(in), out, sizeof out);
  assert_string_equal(out, want);
}

static void test_every_name(void **state) {
  (void)state;
  static const char *const names[] = {"access_token", "token", "signature", "sign", "password",
                                      "pwd", "passwd", "newpassword", "oldpassword", "password_md5",
                                      "pwd_md5", "md5", "Access_Token", "SIGNATURE"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char in[128], want[128];
    snprintf(in, sizeof in, "GET /api/x?a=1&%s=S3cr3tValue&b=2 HTTP/1.1", names[i]);
    snprintf(want, sizeof want, "GET /api/x?a=1&%s=***&b=2 HTTP/1.1", names[i]);
    check(in, want);
  }
}

static void test_forms(void **state) {
  (void)state;
  /* an echoing error page */
  check("<p>Your request GET /api/authorization?time=1764650000&account=demo&signature=0123abcd HTTP/1.1</p>",
        "<p>Your request GET /api/authorization?time=1764650000&account=demo&signature=*** HTTP/1.1</p>");
  /* percent-encoded name, separator and after an encoded '&' */
  check("x?pass%77ord=abc&y=1", "x?pass%77ord=***&y=1");
  check("x?password%3Dabc%26y", "x?password%3D***");
  check("q=a%26signature=zz", "q=a%26signature=***");
  /* JSON */
  check("{\"access_token\":\"tok123\",\"expires_in\":7200}", "{\"access_token\":***,\"expires_in\":7200}");
  check("{\"password\": \"p w\"}", "{\"password\": ***}");
  /* conninfo with a quoted value */
  check("host=db password='a b\\' c' user=u", "host=db password=*** user=u");
  /* a one-letter secret grows to *** */
  check("pwd=x", "pwd=***");
  /* no false positives on words that merely contain a name, nor on prose */
  check("designature=1&tokens=2&md5sum=3", "designature=1&tokens=2&md5sum=3");
  check("token refused (10011 token expired): logging in again",
        "token refused (10011 token expired): logging in again");
  check("accounts[0].password: required", "accounts[0].password: required");
}

static void test_inplace_cut(void **state) {
  (void)state;
  char s[12] = "pwd=x&a=123";
  redact_inplace(s, sizeof s);
  assert_string_equal(s, "pwd=***&a=1"); /* grew, cut to fit, still terminated */
  assert_true(redact_is_secret_name("pass%77ord", 10));
  assert_false(redact_is_secret_name("account", 7));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_name),
    cmocka_unit_test(test_forms),
    cmocka_unit_test(test_inplace_cut),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
