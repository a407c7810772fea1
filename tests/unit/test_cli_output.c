/* The command line's output helpers (table widths in UTF-8, JSON validity, RFC 4180
 * CSV), send-command's polling plan (the spec's 30 tries a second apart) and the
 * alarm type names of spec 2.8. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/alarm_types.h"
#include "cli/output.h"
#include "cli/sendcmd.h"

static const output_column_t cols[] = {{"name", OUTPUT_STR}, {"km", OUTPUT_NUM}};

static char *render(const output_t *o, output_format_t f) {
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  assert_int_equal(output_write(o, f, m), 0);
  fclose(m);
  return buf;
}

static output_t *sample(void) {
  output_t *o = output_new(cols, 2);
  const char *r1[] = {"Грузовик", "12.5"};
  const char *r2[] = {"a,\"b\"\nc", NULL};
  const char *r3[] = {"北京", "3"};
  assert_int_equal(output_row(o, r1), 0);
  assert_int_equal(output_row(o, r2), 0);
  assert_int_equal(output_row(o, r3), 0);
  return o;
}

static void test_width(void **state) {
  (void)state;
  assert_int_equal(output_text_width("abc"), 3);
  assert_int_equal(output_text_width("Грузовик"), 8);
  assert_int_equal(output_text_width("北京"), 4);
  assert_int_equal(output_text_width("e\xcc\x81"), 1); /* e + combining acute */
  assert_int_equal(output_text_width("\xff"), 1);
}

static void test_table(void **state) {
  (void)state;
  output_t *o = sample();
  char *t = render(o, OUTPUT_TABLE);
  /* header, rule, 3 rows; the control byte became '?'; numbers right-aligned */
  assert_string_equal(t,
                      "name      km\n"
                      "--------  ----\n"
                      "Грузовик  12.5\n"
                      "a,\"b\"?c\n"
                      "北京         3\n");
  free(t);
  output_free(o);
}

static void test_json(void **state) {
  (void)state;
  output_t *o = sample();
  char *t = render(o, OUTPUT_JSON);
  cJSON *j = cJSON_Parse(t);
  assert_non_null(j);
  assert_int_equal(cJSON_GetArraySize(j), 3);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "name")->valuestring, "Грузовик");
  assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "km")->valuedouble == 12.5);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "name")->valuestring, "a,\"b\"\nc");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "km")));
  cJSON_Delete(j);
  free(t);
  output_free(o);
  output_t *e = output_new(cols, 2);
  t = render(e, OUTPUT_JSON);
  assert_string_equal(t, "[]\n");
  free(t);
  output_free(e);
}

static void test_json_bad_utf8(void **state) {
  (void)state;
  output_t *o = output_new(cols, 2);
  const char *r[] = {"x\xc3(\x01", "1"};
  assert_int_equal(output_row(o, r), 0);
  char *t = render(o, OUTPUT_JSON);
  cJSON *j = cJSON_Parse(t);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "name")->valuestring,
                      "x\xef\xbf\xbd(\x01");
  cJSON_Delete(j);
  free(t);
  output_free(o);
}

static void test_csv(void **state) {
  (void)state;
  output_t *o = sample();
  char *t = render(o, OUTPUT_CSV);
  assert_string_equal(t,
                      "name,km\r\n"
                      "Грузовик,12.5\r\n"
                      "\"a,\"\"b\"\"\nc\",\r\n"
                      "北京,3\r\n");
  free(t);
  output_free(o);
}

/* The writers over cells held elsewhere (report's query result): a boolean column, and a
 * number column whose NaN cannot be a bare JSON number. */
static const char *const held[2][3] = {{"t", "1.5", "x"}, {"f", "NaN", NULL}};

static const char *held_cell(const void *src, size_t row, size_t col) {
  (void)src;
  return held[row][col];
}

static void test_write_cells(void **state) {
  (void)state;
  static const output_column_t hc[] = {{"ok", OUTPUT_BOOL}, {"v", OUTPUT_NUM}, {"s", OUTPUT_STR}};
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  assert_int_equal(output_write_cells(hc, 3, 2, held_cell, NULL, OUTPUT_JSON, m), 0);
  fclose(m);
  assert_string_equal(buf, "[\n  {\"ok\": true, \"v\": 1.5, \"s\": \"x\"},\n"
                           "  {\"ok\": false, \"v\": \"NaN\", \"s\": null}\n]\n");
  free(buf);
  buf = NULL;
  m = open_memstream(&buf, &len);
  assert_int_equal(output_write_cells(hc, 3, 2, held_cell, NULL, OUTPUT_TABLE, m), 0);
  fclose(m);
  /* headers and booleans left, numbers right-aligned; no blanks at the end of the second row */
  assert_string_equal(buf, "ok  v    s\n"
                           "--  ---  -\n"
                           "t   1.5  x\n"
                           "f   NaN\n");
  free(buf);
}

static void test_format_parse(void **state) {
  (void)state;
  output_format_t f;
  assert_int_equal(output_format_parse("csv", &f), 0);
  assert_int_equal(f, OUTPUT_CSV);
  assert_int_equal(output_format_parse("json", &f), 0);
  assert_int_equal(f, OUTPUT_JSON);
  assert_int_not_equal(output_format_parse("xml", &f), 0);
}

static void test_sendcmd_plan(void **state) {
  (void)state;
  sendcmd_plan_t p;
  char err[128];
  assert_int_equal(sendcmd_plan_parse(NULL, NULL, &p, err, sizeof err), 0);
  assert_int_equal(p.interval_ms, 1000);
  assert_int_equal(p.tries, 30);
  assert_int_equal(sendcmd_plan_wait_ms(&p), 30000); /* the spec's "up to 30 seconds" */
  assert_int_equal(sendcmd_plan_parse("200ms", "4", &p, err, sizeof err), 0);
  assert_int_equal(sendcmd_plan_wait_ms(&p), 800);
  assert_int_not_equal(sendcmd_plan_parse("0s", NULL, &p, err, sizeof err), 0);
  assert_int_not_equal(sendcmd_plan_parse("2m", NULL, &p, err, sizeof err), 0);
  assert_int_not_equal(sendcmd_plan_parse(NULL, "0", &p, err, sizeof err), 0);
  assert_int_not_equal(sendcmd_plan_parse(NULL, "-3", &p, err, sizeof err), 0);
  assert_int_not_equal(sendcmd_plan_parse(NULL, "3x", &p, err, sizeof err), 0);
  assert_int_not_equal(sendcmd_plan_parse("1", NULL, &p, err, sizeof err), 0);
}

static void test_alarm_names(void **state) {
  (void)state;
  assert_string_equal(api_alarm_type_name(1), "sosAlarm");
  assert_string_equal(api_alarm_type_name(27), "doorcloseAlarm");
  assert_string_equal(api_alarm_type_name(44), "lowExternalBatteryAlarm");
  assert_null(api_alarm_type_name(0));
  assert_null(api_alarm_type_name(45));
  for (int c = 1; c <= 44; c++) assert_non_null(api_alarm_type_name(c));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_width),        cmocka_unit_test(test_table),
    cmocka_unit_test(test_json),         cmocka_unit_test(test_json_bad_utf8),
    cmocka_unit_test(test_csv),          cmocka_unit_test(test_format_parse),
    cmocka_unit_test(test_write_cells),
    cmocka_unit_test(test_sendcmd_plan), cmocka_unit_test(test_alarm_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
