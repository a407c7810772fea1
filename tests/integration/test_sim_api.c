/* The simulator's endpoint rules against the real binary: list limits and the account
 * tree, IMEI limits and authorization, playback/alarm paging (inclusive bounds, the
 * boundary record, the traps), 20023, mileage alignment, commands, geofences, messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/sign.h"
#include "sim_client.h"

#define PRESENT 1793491200LL /* 2026-11-01T00:00:00Z */
#define WINDOW_BEGIN (PRESENT - 7 * 86400LL)
#define DEVICES 150
#define TOTAL_DEVICES (DEVICES + 3) /* + the three trap devices */

static sc_t sim;
static char imeis[TOTAL_DEVICES + 8][16];
static int datastatus[TOTAL_DEVICES + 8];
static int nimeis;

static int walk_tree(sc_t *c, const char *account, char (*out)[16], int *nout, int cap) {
  int accounts = sc_walk_tree(c, account, out, NULL, nout, cap);
  assert_true(accounts > 0); /* every answer code 0, no list over 500 rows */
  return accounts;
}

static int setup_sim(void **state) {
  (void)state;
  const char *args[] = {"--devices", "150", "--seed", "7", "--now", "2026-11-01", "--speed", "0",
                        NULL};
  if (sc_start(&sim, args) != 0 || sc_login(&sim) != 0) return -1;
  nimeis = 0;
  walk_tree(&sim, sim.sim.account, imeis, &nimeis, TOTAL_DEVICES + 8);
  if (nimeis != TOTAL_DEVICES) return -1;
  /* datastatus of each, from /api/track in batches of 100 */
  for (int b = 0; b < nimeis; b += 100) {
    char list[2000] = "";
    for (int i = b; i < nimeis && i < b + 100; i++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > b ? "," : "", imeis[i]);
    cJSON *j = sc_getf(&sim, "/api/track?imeis=%s", list);
    if (sc_code(j) != 0) return -1;
    int k = b;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "record"))
      datastatus[k++] = cJSON_GetObjectItemCaseSensitive(r, "datastatus")->valueint;
    cJSON_Delete(j);
  }
  return 0;
}

static int teardown_sim(void **state) {
  (void)state;
  return sc_stop(&sim) == 0 ? 0 : -1;
}

static const char *imei_with_status(int st) {
  for (int i = 0; i < nimeis; i++)
    if (datastatus[i] == st && strncmp(imeis[i], "999", 3) != 0) return imeis[i];
  fail_msg("no device with datastatus %d", st);
  return NULL;
}

static void test_tree_and_lists(void **state) {
  (void)state;
  /* setup walked it: every device once */
  for (int i = 0; i < nimeis; i++)
    for (int k = i + 1; k < nimeis; k++) assert_string_not_equal(imeis[i], imeis[k]);
  /* user/info of the root; device/list without account = the root's own */
  cJSON *j = sc_getf(&sim, "/api/user/info?account=%s", sim.sim.account);
  assert_int_equal(sc_code(j), 0);
  const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "record");
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(rec, "account")->valuestring, "demo");
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(rec, "blockstatus")->valueint, 1);
  cJSON_Delete(j);
  assert_int_equal(sc_get_code(&sim, "/api/user/info"), 10005);
  assert_int_equal(sc_get_code(&sim, "/api/user/info?account=nobody"), 20005);
  assert_int_equal(sc_get_code(&sim, "/api/device/list?account=nobody"), 20005);
  /* a big fleet: no list over 500, and the union is the whole fleet */
  sc_t big;
  const char *args[] = {"--devices", "1500", "--seed", "3", NULL};
  assert_int_equal(sc_start(&big, args), 0);
  assert_int_equal(sc_login(&big), 0);
  static char all[1600][16];
  int n = 0;
  int accounts = walk_tree(&big, big.sim.account, all, &n, 1600);
  assert_int_equal(n, 1503);
  assert_true(accounts >= 5);
  assert_int_equal(sc_stop(&big), 0);
}

static void test_imei_limits(void **state) {
  (void)state;
  char list[4000] = "";
  for (int i = 0; i < 100; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", imeis[i]);
  cJSON *j = sc_getf(&sim, "/api/track?imeis=%s", list);
  assert_int_equal(sc_code(j), 0);
  assert_int_equal(sc_record_count(j), 100);
  const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0);
  assert_int_equal((long long)cJSON_GetObjectItemCaseSensitive(r0, "servertime")->valuedouble, PRESENT);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(r0, "imei")->valuestring, imeis[0]);
  cJSON_Delete(j);
  j = sc_getf(&sim, "/api/device/detail?imeis=%s", list);
  assert_int_equal(sc_record_count(j), 100);
  cJSON_Delete(j);
  snprintf(list + strlen(list), sizeof list - strlen(list), ",%s", imeis[100]);
  assert_int_equal(sc_get_code(&sim, "/api/track?imeis=%s", list), 10006);
  assert_int_equal(sc_get_code(&sim, "/api/device/detail?imeis=%s", list), 10006);
  assert_int_equal(sc_get_code(&sim, "/api/device/mileage?imeis=%s&begintime=%lld&endtime=%lld", list,
                               PRESENT - 86400, PRESENT),
                   10006);
  assert_int_equal(sc_get_code(&sim, "/api/track?imeis=%s,,%s", imeis[0], imeis[1]), 10004);
  assert_int_equal(sc_get_code(&sim, "/api/track?imeis=123456789012345"), 10013);
  assert_int_equal(sc_get_code(&sim, "/api/track"), 10005);
  /* a sub-account sees its own devices, not its parent's */
  char md5[33];
  assert_int_equal(api_md5_hex("Cust@1", 6, md5), 0);
  assert_int_equal(sc_get_code(&sim, "/api/user/password/set?account=cust0001&password=%s", md5), 0);
  sc_t sub = sim;
  sub.curl = curl_easy_init();
  sub.body = NULL;
  assert_int_equal(sc_login_at(&sub, "cust0001", "Cust@1", 0), 0);
  j = sc_getf(&sub, "/api/device/list");
  assert_int_equal(sc_code(j), 0);
  assert_true(sc_record_count(j) > 0);
  const char *own = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0), "imei")->valuestring;
  assert_int_equal(sc_get_code(&sub, "/api/track?imeis=%s", own), 0);
  cJSON_Delete(j);
  assert_int_equal(sc_get_code(&sub, "/api/track?imeis=999000000000001"), 10013);
  assert_int_equal(sc_get_code(&sub, "/api/playback?imei=999000000000001&begintime=%lld&endtime=%lld",
                               WINDOW_BEGIN, PRESENT),
                   10013);
  assert_int_equal(sc_get_code(&sub, "/api/device/list?account=demo"), 10007);
  curl_easy_cleanup(sub.curl);
  free(sub.body);
}

/* Record i's field k of a ';'/','-record string. */
static long long field(const char *rec, int i, int k) {
  const char *p = rec;
  for (int g = 0; g < i; g++) p = strchr(p, ';') + 1;
  for (int f = 0; f < k; f++) p = strchr(p, ',') + 1;
  return strtoll(p, NULL, 10);
}

static void test_playback_paging(void **state) {
  (void)state;
  /* a normal device: the first page is full, the next starts with the boundary record */
  const char *imei = imei_with_status(2);
  cJSON *j = sc_getf(&sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imei,
                     WINDOW_BEGIN, PRESENT);
  assert_int_equal(sc_code(j), 0);
  const char *rec = sc_record_string(j);
  assert_int_equal(sc_groups(rec), 1000);
  long long first = field(rec, 0, 2), last = field(rec, 999, 2);
  assert_true(first >= WINDOW_BEGIN && last <= PRESENT && first <= last);
  cJSON *j2 = sc_getf(&sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imei, last, PRESENT);
  const char *rec2 = sc_record_string(j2);
  assert_true(sc_groups(rec2) >= 1);
  assert_int_equal(field(rec2, 0, 2), last);
  /* the boundary record is the same record */
  const char *b1 = strrchr(rec, ';') + 1;
  assert_memory_equal(b1, rec2, strlen(b1));
  cJSON_Delete(j2);
  /* inclusive ends: [first, first] holds the record at first */
  j2 = sc_getf(&sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imei, first, first);
  assert_int_equal(sc_code(j2), 0);
  assert_int_equal(field(sc_record_string(j2), 0, 2), first);
  cJSON_Delete(j2);
  cJSON_Delete(j);

  /* the exact-page trap: 1000 points in the first day, then only the boundary again */
  j = sc_getf(&sim, "/api/playback?imei=999000000000001&begintime=%lld&endtime=%lld", WINDOW_BEGIN,
              WINDOW_BEGIN + 86400 - 1);
  assert_int_equal(sc_groups(sc_record_string(j)), 1000);
  last = field(sc_record_string(j), 999, 2);
  cJSON_Delete(j);
  j = sc_getf(&sim, "/api/playback?imei=999000000000001&begintime=%lld&endtime=%lld", last,
              WINDOW_BEGIN + 86400 - 1);
  assert_int_equal(sc_groups(sc_record_string(j)), 1);
  cJSON_Delete(j);

  /* the same-time trap: a full page of one gpstime asks the same question again */
  long long t = WINDOW_BEGIN;
  int rounds = 0;
  for (;;) {
    j = sc_getf(&sim, "/api/playback?imei=999000000000002&begintime=%lld&endtime=%lld", t, PRESENT);
    assert_int_equal(sc_code(j), 0);
    rec = sc_record_string(j);
    int n = sc_groups(rec);
    long long f0 = field(rec, 0, 2), fl = field(rec, n - 1, 2);
    cJSON_Delete(j);
    assert_int_equal(n, 1000);
    if (f0 == fl) break; /* found the burst */
    t = fl;
    assert_true(++rounds < 200);
  }
}

static void test_alarm_paging(void **state) {
  (void)state;
  int found = 0;
  for (int i = 0; i < nimeis && !found; i++) {
    cJSON *j = sc_getf(&sim, "/api/alarm/list?imei=%s&begintime=%lld&endtime=%lld", imeis[i],
                       WINDOW_BEGIN, PRESENT);
    const char *rec = sc_record_string(j);
    if (sc_groups(rec) == 100) {
      found = 1;
      long long prev = 0;
      for (int k = 0; k < 100; k++) { /* systemtime order */
        long long st = field(rec, k, 4);
        assert_true(st >= prev && st >= WINDOW_BEGIN && st <= PRESENT);
        assert_true(field(rec, k, 3) <= st);
        prev = st;
      }
      cJSON *j2 = sc_getf(&sim, "/api/alarm/list?imei=%s&begintime=%lld&endtime=%lld", imeis[i],
                          prev, PRESENT);
      assert_int_equal(sc_code(j2), 0);
      assert_int_equal(field(sc_record_string(j2), 0, 4), prev);
      cJSON_Delete(j2);
    }
    cJSON_Delete(j);
  }
  assert_true(found);
  /* the late-alarms trap: systemtime order is not gpstime order */
  long long t = WINDOW_BEGIN;
  int out_of_order = 0;
  for (int page = 0; page < 100; page++) {
    cJSON *j = sc_getf(&sim, "/api/alarm/list?imei=999000000000003&begintime=%lld&endtime=%lld", t,
                       PRESENT);
    if (sc_code(j) == 20023) {
      cJSON_Delete(j);
      break;
    }
    const char *rec = sc_record_string(j);
    int n = sc_groups(rec);
    for (int k = 1; k < n; k++) {
      assert_true(field(rec, k, 4) >= field(rec, k - 1, 4));
      if (field(rec, k, 3) < field(rec, k - 1, 3)) out_of_order++;
    }
    long long last = field(rec, n - 1, 4);
    cJSON_Delete(j);
    if (n < 100) break;
    t = last == t ? last + 1 : last;
  }
  assert_true(out_of_order > 0);
}

static void test_no_data_and_bad_ranges(void **state) {
  (void)state;
  const char *imei = imei_with_status(2);
  cJSON *j = sc_getf(&sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imei,
                     WINDOW_BEGIN - 86400, WINDOW_BEGIN - 1);
  assert_int_equal(sc_code(j), 20023);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "message")->valuestring, "No Data.");
  cJSON_Delete(j);
  assert_int_equal(sc_get_code(&sim, "/api/alarm/list?imei=%s&begintime=%lld&endtime=%lld", imei,
                               PRESENT + 10, PRESENT + 86400),
                   20023);
  assert_int_equal(sc_get_code(&sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld",
                               imei_with_status(1), WINDOW_BEGIN, PRESENT),
                   20023);
  assert_int_equal(sc_get_code(&sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imei,
                               PRESENT, PRESENT - 10),
                   10006);
  assert_int_equal(sc_get_code(&sim, "/api/playback?imei=%s&begintime=x&endtime=1", imei), 10004);
  assert_int_equal(sc_get_code(&sim, "/api/playback?imei=%s&begintime=1", imei), 10005);
}

static void test_mileage(void **state) {
  (void)state;
  const char *a = imei_with_status(2);
  long long b = PRESENT - 3 * 86400;
  cJSON *j = sc_getf(&sim, "/api/device/mileage?imeis=%s,%s&begintime=%lld&endtime=%lld", a,
                     imeis[1], b, b + 86400);
  assert_int_equal(sc_code(j), 0);
  assert_int_equal(sc_record_count(j), 2);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0), "mileage");
  assert_true(cJSON_IsNumber(m) && m->valuedouble >= 0);
  cJSON_Delete(j);
  const char *q = "/api/device/mileage?imeis=%s&begintime=%lld&endtime=%lld";
  assert_int_equal(sc_get_code(&sim, q, a, b + 1800, b + 1800 + 7 * 86400), 0);
  assert_int_equal(sc_get_code(&sim, q, a, b + 60, b + 86400), 10004);
  assert_int_equal(sc_get_code(&sim, q, a, b, b + 86400 + 900), 10004);
  assert_int_equal(sc_get_code(&sim, q, a, b, b + 7 * 86400 + 1800), 10006);
  assert_int_equal(sc_get_code(&sim, q, a, b, b), 10006);
}

static int query_status(sc_t *c, const char *id, char *response, size_t n) {
  char form[256];
  snprintf(form, sizeof form, "access_token=%s&commandid=%s", c->token, id);
  cJSON *j = sc_call(c, "POST", "/api/command/query", form);
  assert_int_equal(sc_code(j), 0);
  const cJSON *rec = cJSON_GetObjectItemCaseSensitive(j, "record");
  int st = cJSON_GetObjectItemCaseSensitive(rec, "commandstatus")->valueint;
  snprintf(response, n, "%s", cJSON_GetObjectItemCaseSensitive(rec, "response")->valuestring);
  cJSON_Delete(j);
  return st;
}

static void send_command(sc_t *c, const char *imei, const char *cmd_form, char id[32]) {
  char form[512];
  snprintf(form, sizeof form, "access_token=%s&imei=%s&%s", c->token, imei, cmd_form);
  cJSON *j = sc_call(c, "POST", "/api/command/send", form);
  assert_int_equal(sc_code(j), 0);
  const cJSON *cid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "record"),
                                                      "commandid");
  assert_true(cJSON_IsString(cid) && cid->valuestring[0]);
  snprintf(id, 32, "%s", cid->valuestring);
  cJSON_Delete(j);
}

static void test_commands(void **state) {
  (void)state;
  char id[32], resp[256];
  send_command(&sim, imei_with_status(2), "command=RELAY%2C1", id);
  assert_int_equal(query_status(&sim, id, resp, sizeof resp), 0);
  assert_string_equal(resp, "");
  int tries = 1;
  while (query_status(&sim, id, resp, sizeof resp) == 0) assert_true(++tries < 30);
  assert_non_null(strstr(resp, "Success"));
  /* SET_MILEAGE needs its paramData */
  assert_int_equal(sc_get_code(&sim, "/api/command/send?imei=%s&command=SET_MILEAGE", imei_with_status(2)),
                   10005);
  send_command(&sim, imei_with_status(2), "command=SET_MILEAGE&paramData=%7B%22mileage%22%3A%2230%22%7D", id);
  tries = 0;
  while (query_status(&sim, id, resp, sizeof resp) == 0) assert_true(++tries < 30);
  assert_non_null(strstr(resp, "30"));
  /* an offline device never answers */
  send_command(&sim, imei_with_status(4), "command=RESET", id);
  for (int i = 0; i < 30; i++) assert_int_equal(query_status(&sim, id, resp, sizeof resp), 0);
  assert_int_equal(sc_get_code(&sim, "/api/command/send?imei=%s&command=SELFDESTRUCT", imei_with_status(2)),
                   20048);
  assert_int_equal(sc_get_code(&sim, "/api/command/query?commandid=FFFFFFF"), 20005);
  assert_int_equal(sc_get_code(&sim, "/api/command/send?imei=%s&command=RESET", imei_with_status(3)),
                   20046);
}

static void test_geofence(void **state) {
  (void)state;
  const char *imei = imei_with_status(2);
  const char *q = "/api/geofence/create?imei=%s&efencename=%s&alarmtype=%d&longitude=%s"
                  "&latitude=22.56861&radius=%d";
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 0, "113.97196", 99), 10006);
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 0, "113.97196", 5001), 10006);
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 0, "113.97196", 100), 0);
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 2, "113.97196", 5000), 0);
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 3, "113.97196", 300), 10006);
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 1, "181", 300), 10006);
  assert_int_equal(sc_get_code(&sim, q, imei, "home", 1, "east", 300), 10004);
  assert_int_equal(sc_get_code(&sim, q, imei, "D%C3%A9p%C3%B4t%20%E5%8C%97", 1, "113.97196", 300), 0);
  assert_int_equal(sc_get_code(&sim, "/api/geofence/create?imei=%s&alarmtype=1&longitude=1&latitude=1"
                               "&radius=300", imei),
                   10005);
}

static void test_message(void **state) {
  (void)state;
  char form[8192];
  /* 300 characters of 2-byte UTF-8 (600 bytes) is within the limit; 301 is not */
  int n = snprintf(form, sizeof form, "access_token=%s&accounts=%s&content=", sim.token, sim.sim.account);
  for (int i = 0; i < 300; i++) n += snprintf(form + n, sizeof form - (size_t)n, "%%C3%%A9");
  cJSON *j = sc_call(&sim, "POST", "/api/message/send", form);
  assert_int_equal(sc_code(j), 0);
  cJSON_Delete(j);
  snprintf(form + n, sizeof form - (size_t)n, "x");
  j = sc_call(&sim, "POST", "/api/message/send", form);
  assert_int_equal(sc_code(j), 10006);
  cJSON_Delete(j);
  n = snprintf(form, sizeof form, "access_token=%s&content=hello+world&accounts=demo", sim.token);
  for (int i = 0; i < 200; i++) n += snprintf(form + n, sizeof form - (size_t)n, ",demo");
  j = sc_call(&sim, "POST", "/api/message/send", form); /* 201 accounts */
  assert_int_equal(sc_code(j), 10006);
  cJSON_Delete(j);
  assert_int_equal(sc_get_code(&sim, "/api/message/send?accounts=ghost&content=hi"), 20005);
  assert_int_equal(sc_get_code(&sim, "/api/message/send?accounts=demo,cust0001&content=hi"), 0);
}

/* --nodata FORM: how "no data" is said. A range with no record, an account without
 * devices (the viewer) and one without sub-accounts answer exactly the form; 20023 (the
 * default, as this file's simulator) keeps the empty lists as []. /sim/stats counts them. */
static void test_nodata_forms(void **state) {
  (void)state;
  /* the default simulator of this file */
  cJSON *j = sc_getf(&sim, "/api/user/list?account=demo-viewer");
  assert_int_equal(sc_code(j), 0);
  assert_int_equal(sc_record_count(j), 0);
  assert_string_equal(sim.body, "{\"code\":0,\"record\":[]}");
  cJSON_Delete(j);
  static const struct {
    const char *form, *answer;
  } cases[] = {
    {"empty", "{\"code\":0,\"record\":\"\"}"},
    {"missing", "{\"code\":0}"},
    {"null", "{\"code\":0,\"record\":null}"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    sc_t c;
    const char *args[] = {"--devices", "20", "--seed", "7", "--now", "2026-11-01", "--speed", "0",
                          "--nodata", cases[k].form, NULL};
    assert_int_equal(sc_start(&c, args), 0);
    assert_int_equal(sc_login(&c), 0);
    /* an IMEI of this fleet: the first device of the root */
    j = sc_getf(&c, "/api/device/list");
    assert_int_equal(sc_code(j), 0);
    const cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0);
    char dev[32];
    snprintf(dev, sizeof dev, "%s", cJSON_GetObjectItemCaseSensitive(d0, "imei")->valuestring);
    cJSON_Delete(j);
    const char *paths[] = {"/api/playback?imei=%s&begintime=%lld&endtime=%lld",
                           "/api/alarm/list?imei=%s&begintime=%lld&endtime=%lld"};
    for (int p = 0; p < 2; p++) {
      /* before the window, and after the present */
      j = sc_getf(&c, paths[p], dev, WINDOW_BEGIN - 86400, WINDOW_BEGIN - 1);
      assert_int_equal(sc_code(j), 0);
      assert_string_equal(c.body, cases[k].answer);
      cJSON_Delete(j);
      j = sc_getf(&c, paths[p], dev, PRESENT + 10, PRESENT + 86400);
      assert_string_equal(c.body, cases[k].answer);
      cJSON_Delete(j);
    }
    j = sc_getf(&c, "/api/user/list?account=demo-viewer");
    assert_string_equal(c.body, cases[k].answer);
    cJSON_Delete(j);
    j = sc_getf(&c, "/api/device/list?account=demo-viewer");
    assert_string_equal(c.body, cases[k].answer);
    cJSON_Delete(j);
    /* data is still data */
    j = sc_getf(&c, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", dev, PRESENT - 86400,
                PRESENT);
    assert_int_equal(sc_code(j), 0);
    assert_true(sc_groups(sc_record_string(j)) > 0);
    cJSON_Delete(j);
    j = sc_stats(&c);
    const cJSON *nd = cJSON_GetObjectItemCaseSensitive(j, "nodata");
    assert_true(cJSON_IsNumber(nd) && nd->valuedouble == 6);
    cJSON_Delete(j);
    assert_int_equal(sc_stop(&c), 0);
  }
  sc_t bad;
  const char *args[] = {"--devices", "5", "--nodata", "nothing", NULL};
  assert_int_equal(sc_start(&bad, args), -1);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tree_and_lists),
    cmocka_unit_test(test_imei_limits),
    cmocka_unit_test(test_playback_paging),
    cmocka_unit_test(test_alarm_paging),
    cmocka_unit_test(test_no_data_and_bad_ranges),
    cmocka_unit_test(test_nodata_forms),
    cmocka_unit_test(test_mileage),
    cmocka_unit_test(test_commands),
    cmocka_unit_test(test_geofence),
    cmocka_unit_test(test_message),
  };
  int rc = cmocka_run_group_tests_name("sim_api", tests, setup_sim, teardown_sim);
  curl_global_cleanup();
  return rc ? 1 : 0;
}
