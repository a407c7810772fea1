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

/* Runs one log_info (log_info_f with fields when fields is set) with stderr sent to a
 * file; returns what was written (free it). */
static char *captured_f(log_format_t format, const log_fields_t *fields, const char *fmt, const char *arg) {
  fflush(stderr);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  log_set_format(format);
  if (fields) log_info_f(fields, fmt, arg);
  else log_info(fmt, arg);
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

static char *captured(log_format_t format, const char *fmt, const char *arg) {
  return captured_f(format, NULL, fmt, arg);
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

/* log.format json: the fields are keys of their own, escaped and redacted like the message;
 * a text line is the message alone. */
static void test_structured_fields(void **state) {
  (void)state;
  const log_fields_t *f = LOG_FIELDS(.account = "ac\"me", .imei = "868120000000001",
                                     .endpoint = "alarm/list", .stream = "alarms", .code = 10009);
  char *out = captured_f(LOG_FORMAT_JSON, f, "net: %s", "too frequent");
  assert_non_null(strstr(out, "\"msg\":\"net: too frequent\",\"account\":\"ac\\\"me\",\"imei\":\"868120000000001\","
                              "\"endpoint\":\"alarm/list\",\"stream\":\"alarms\",\"code\":10009}\n"));
  assert_int_equal(lines(out), 1);
  free(out);
  /* absent fields are absent keys */
  out = captured_f(LOG_FORMAT_JSON, LOG_FIELDS(.account = "acme"), "login %s", "ok");
  assert_non_null(strstr(out, "\"msg\":\"login ok\",\"account\":\"acme\"}\n"));
  assert_null(strstr(out, "\"imei\""));
  assert_null(strstr(out, "\"code\""));
  free(out);
  out = captured_f(LOG_FORMAT_TEXT, f, "net: %s", "too frequent");
  assert_non_null(strstr(out, " info  net: too frequent\n"));
  free(out);
  /* a secret in a field value is masked too */
  out = captured_f(LOG_FORMAT_JSON, LOG_FIELDS(.endpoint = "track?access_token=Tok999"), "x%s", "");
  assert_null(strstr(out, "Tok999"));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_newline_in_a_name_stays_on_one_line),
    cmocka_unit_test(test_secret_values_masked),
    cmocka_unit_test(test_structured_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
