/* util/log: a text line is one line whatever a value holds (control bytes escaped), and
 * no secret parameter value reaches a line in either format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* Runs one log_info with stderr sent to a file; returns what was written (free it). */
static char *captured(log_format_t format, const char *fmt, const char *arg) {
  fflush(stderr);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  log_set_format(format);
  log_info(fmt, arg);
  fflush(stderr);
  assert_true(dup2(saved, 2) >= 0);
  close(saved);
  log_set_format(LOG_FORMAT_TEXT);
  long n = ftell(tmp);
  assert_true(n > 0);
  char *out = calloc(1, (size_t)n + 1);
  rewind(tmp);
  assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
  fclose(tmp);
  return out;
}

static size_t lines(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += *s == '\n';
  return n;
}

static void test_newline_in_a_name_stays_on_one_line(void **state) {
  (void)state;
  char *out = captured(LOG_FORMAT_TEXT, "account %s: logged in",
                       "ghost\n2026-12-01T00:00:00.000Z error forged\r\x1b[31m");
  assert_int_equal(lines(out), 1);
  assert_non_null(strstr(out, "account ghost\\n2026-12-01T00:00:00.000Z error forged\\r\\x1b[31m: logged in\n"));
  free(out);
}

static void test_secret_values_masked(void **state) {
  (void)state;
  char *out = captured(LOG_FORMAT_TEXT, "http: %s", "GET /api/authorization?time=1&account=a&signature=Sig123abc");
  assert_null(strstr(out, "Sig123abc"));
  assert_non_null(strstr(out, "signature=***"));
  free(out);
  out = captured(LOG_FORMAT_JSON, "page: %s", "<p>access_token=Tok456 pwd=Pw789</p>");
  assert_null(strstr(out, "Tok456"));
  assert_null(strstr(out, "Pw789"));
  assert_int_equal(lines(out), 1);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_newline_in_a_name_stays_on_one_line),
    cmocka_unit_test(test_secret_values_masked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
