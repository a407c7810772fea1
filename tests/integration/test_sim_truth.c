/* The simulator against its own --truth: paging playback and alarms of EVERY device by
 * the spec's rules (next begin = last record's time, a guard for full pages of one
 * time) and deduplicating by the archive keys gives exactly the truth CSVs, row for
 * row. Also: same seed, same answers; another seed, another fleet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim_client.h"
#include "util/buf.h"

#define PRESENT 1793491200LL /* 2026-11-01T00:00:00Z, frozen (--speed 0) */
#define EPOCH (PRESENT - 2 * 86400LL)
#define MAXDEV 64

static const char *const args_seed9[] = {"--devices", "25", "--seed", "9", "--history", "2",
                                         "--now", "2026-11-01", "--speed", "0", NULL};

typedef struct rows {
  char **v;
  size_t n, cap;
} rows_t;

static void rows_add(rows_t *r, const char *s) {
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 1024;
    r->v = realloc(r->v, r->cap * sizeof *r->v);
    assert_non_null(r->v);
  }
  r->v[r->n++] = strdup(s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rows_sort(rows_t *r) { qsort(r->v, r->n, sizeof *r->v, cmp_str); }

static void rows_free(rows_t *r) {
  for (size_t i = 0; i < r->n; i++) free(r->v[i]);
  free(r->v);
  memset(r, 0, sizeof *r);
}

/* Rows of a truth CSV without its header, keeping those `keep` accepts. */
static void read_csv(const char *dir, const char *name, rows_t *r, int (*keep)(const char *)) {
  char path[512], line[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  assert_non_null(fgets(line, sizeof line, f)); /* header */
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (!keep || keep(line)) rows_add(r, line);
  }
  fclose(f);
}

/* The n-th (0-based) comma field of s as an integer. */
static long long csv_field(const char *s, int n) {
  for (int i = 0; i < n; i++) s = strchr(s, ',') + 1;
  return strtoll(s, NULL, 10);
}

/* An alarm the platform has received by the present: systemtime < PRESENT. */
static int alarm_visible(const char *row) { return csv_field(row, 3) < PRESENT; }

/* Pages one stream of one device over [EPOCH, PRESENT - 1]; time_field is the field
 * the spec pages on (2 gpstime for playback, 4 systemtime for alarms). Each group
 * goes to emit(). Returns the number of requests. */
static int page_all(sc_t *c, const char *ep, const char *imei, int page_size, int time_field,
                    void (*emit)(const char *imei, const char *group, rows_t *out), rows_t *out) {
  long long begin = EPOCH;
  int requests = 0;
  for (;;) {
    cJSON *j = sc_getf(c, "/api/%s?imei=%s&begintime=%lld&endtime=%lld", ep, imei, begin,
                       PRESENT - 1);
    requests++;
    assert_true(requests < 5000);
    int code = sc_code(j);
    if (code == 20023) {
      cJSON_Delete(j);
      break;
    }
    assert_int_equal(code, 0);
    char *rec = strdup(sc_record_string(j));
    cJSON_Delete(j);
    int n = 0;
    long long first = -1, last = -1;
    char *save = NULL;
    for (char *g = strtok_r(rec, ";", &save); g; g = strtok_r(NULL, ";", &save), n++) {
      long long t = csv_field(g, time_field);
      assert_true(t >= begin && t <= PRESENT - 1); /* inclusive bounds, nothing outside */
      if (first < 0) first = t;
      assert_true(t >= last); /* ordered by the paging time */
      last = t;
      emit(imei, g, out);
    }
    free(rec);
    assert_true(n <= page_size);
    if (n < page_size) break;
    /* the spec: next begin = the last record's time; the guard: a full page of one
     * time would ask the same question forever, so step past that second */
    begin = first == last ? last + 1 : last;
  }
  return requests;
}

/* playback group lon,lat,gpstime,speed,course -> imei,gpstime,longitude,latitude,speed,course */
static void emit_position(const char *imei, const char *g, rows_t *out) {
  char lon[32], lat[32];
  long long t;
  int speed, course;
  assert_int_equal(sscanf(g, "%31[^,],%31[^,],%lld,%d,%d", lon, lat, &t, &speed, &course), 5);
  char row[256];
  snprintf(row, sizeof row, "%s,%lld,%s,%s,%d,%d", imei, t, lon, lat, speed, course);
  rows_add(out, row);
}

/* alarm group type,lon,lat,gpstime,systemtime,speed,course,fence ->
 * imei,alarm_type,gpstime,systemtime,longitude,latitude,speed,course,geofence_id */
static void emit_alarm(const char *imei, const char *g, rows_t *out) {
  char lon[32], lat[32];
  long long gt, st, fence;
  int type, speed, course;
  assert_int_equal(sscanf(g, "%d,%31[^,],%31[^,],%lld,%lld,%d,%d,%lld", &type, lon, lat, &gt, &st,
                          &speed, &course, &fence),
                   8);
  char row[256];
  snprintf(row, sizeof row, "%s,%d,%lld,%lld,%s,%s,%d,%d,%lld", imei, type, gt, st, lon, lat, speed,
           course, fence);
  rows_add(out, row);
}

/* Sorted rows, duplicates by the first `key_fields` fields removed (the archive's key). */
static void dedup(rows_t *r, int key_fields) {
  rows_sort(r);
  size_t w = 0;
  for (size_t i = 0; i < r->n; i++) {
    if (w > 0) {
      const char *a = r->v[w - 1], *b = r->v[i];
      size_t k = 0;
      int commas = 0;
      while (a[k] && a[k] == b[k] && !(a[k] == ',' && ++commas == key_fields)) k++;
      if (a[k] == ',' && b[k] == ',' && commas == key_fields) {
        free(r->v[i]);
        continue;
      }
    }
    r->v[w++] = r->v[i];
  }
  r->n = w;
}

static void assert_rows_equal(const char *what, rows_t *api, rows_t *truth) {
  rows_sort(truth);
  size_t i = 0;
  for (; i < api->n && i < truth->n; i++)
    if (strcmp(api->v[i], truth->v[i]) != 0)
      fail_msg("%s row %zu differs: api '%s' truth '%s'", what, i, api->v[i], truth->v[i]);
  if (api->n != truth->n)
    fail_msg("%s: api %zu rows, truth %zu rows (first extra: '%s')", what, api->n, truth->n,
             api->n > truth->n ? api->v[i] : truth->v[i]);
}

static void test_union_equals_truth(void **state) {
  (void)state;
  char dir[] = "/tmp/fleetarc-sim-truth-XXXXXX";
  assert_non_null(mkdtemp(dir));
  const char *args[16];
  int k = 0;
  for (; args_seed9[k]; k++) args[k] = args_seed9[k];
  args[k++] = "--truth";
  args[k++] = dir;
  args[k] = NULL;
  sc_t c;
  assert_int_equal(sc_start(&c, args), 0);
  assert_int_equal(sc_login(&c), 0);
  static char imeis[MAXDEV][16], owners[MAXDEV][64];
  int n = 0;
  assert_true(sc_walk_tree(&c, c.sim.account, imeis, owners, &n, MAXDEV) > 1);
  assert_int_equal(n, 25 + 3);

  rows_t api_pos = {0}, api_alm = {0}, truth_pos = {0}, truth_alm = {0};
  int requests = 0;
  for (int i = 0; i < n; i++) {
    requests += page_all(&c, "playback", imeis[i], 1000, 2, emit_position, &api_pos);
    requests += page_all(&c, "alarm/list", imeis[i], 100, 4, emit_alarm, &api_alm);
  }
  dedup(&api_pos, 2); /* (imei, gpstime) */
  dedup(&api_alm, 4); /* (imei, alarm_type, gpstime, systemtime) */
  read_csv(dir, "positions.csv", &truth_pos, NULL);
  read_csv(dir, "alarms.csv", &truth_alm, alarm_visible);
  assert_true(truth_pos.n > 10000);
  assert_true(truth_alm.n > 100);
  assert_rows_equal("positions", &api_pos, &truth_pos);
  assert_rows_equal("alarms", &api_alm, &truth_alm);
  fprintf(stderr, "truth: %zu positions and %zu alarms of %d devices equal, %d requests\n",
          api_pos.n, api_alm.n, n, requests);

  /* the counters saw every record returned */
  cJSON *st = sc_stats(&c);
  assert_true(sc_stat(st, "records", "playback") >= (double)api_pos.n);
  assert_true(sc_stat(st, "records", "alarm") >= (double)api_alm.n);
  assert_true(sc_stat(st, "requests", "total") >= requests);
  cJSON_Delete(st);

  /* devices.csv: imei,"account","devicename","devicetype","platenumber" */
  rows_t api_dev = {0}, truth_dev = {0};
  for (int i = 0; i < n; i++) {
    cJSON *j = sc_getf(&c, "/api/device/detail?imeis=%s", imeis[i]);
    assert_int_equal(sc_code(j), 0);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0);
    char row[512];
    int w = snprintf(row, sizeof row, "%s,\"%s\",\"%s\",\"%s\",\"%s\"", imeis[i], owners[i],
             cJSON_GetObjectItemCaseSensitive(d, "devicename")->valuestring,
             cJSON_GetObjectItemCaseSensitive(d, "devicetype")->valuestring,
             cJSON_GetObjectItemCaseSensitive(d, "platenumber")->valuestring);
    assert_true(w > 0 && (size_t)w < sizeof row);
    rows_add(&api_dev, row);
    cJSON_Delete(j);
  }
  rows_sort(&api_dev);
  read_csv(dir, "devices.csv", &truth_dev, NULL);
  assert_rows_equal("devices", &api_dev, &truth_dev);

  rows_free(&api_pos);
  rows_free(&api_alm);
  rows_free(&truth_pos);
  rows_free(&truth_alm);
  rows_free(&api_dev);
  rows_free(&truth_dev);
  assert_int_equal(sc_stop(&c), 0);
  harness_rm_dir(dir);
}

/* A fingerprint of a simulator's answers: device list, track and a playback page. */
static char *fingerprint(const char *const *args) {
  sc_t c;
  assert_int_equal(sc_start(&c, args), 0);
  assert_int_equal(sc_login(&c), 0);
  static char imeis[MAXDEV][16];
  int n = 0;
  assert_true(sc_walk_tree(&c, c.sim.account, imeis, NULL, &n, MAXDEV) > 0);
  buf_t out = BUF_INIT;
  char list[2048] = "";
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", imeis[i]);
  const char *paths[] = {"/api/device/detail?imeis=%s", "/api/track?imeis=%s"};
  for (int p = 0; p < 2; p++) {
    cJSON_Delete(sc_getf(&c, paths[p], list));
    assert_int_equal(buf_append(&out, c.body, c.body_len), 0);
  }
  cJSON_Delete(sc_getf(&c, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imeis[0], EPOCH,
                       PRESENT));
  assert_int_equal(buf_append(&out, c.body, c.body_len), 0);
  assert_int_equal(sc_stop(&c), 0);
  return buf_steal(&out);
}

static void test_seed_determinism(void **state) {
  (void)state;
  char *a = fingerprint(args_seed9), *b = fingerprint(args_seed9);
  const char *other[] = {"--devices", "25", "--seed", "10", "--history", "2",
                         "--now", "2026-11-01", "--speed", "0", NULL};
  char *d = fingerprint(other);
  assert_true(strlen(a) > 1000);
  assert_string_equal(a, b);
  assert_string_not_equal(a, d);
  free(a);
  free(b);
  free(d);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_union_equals_truth),
    cmocka_unit_test(test_seed_determinism),
  };
  int rc = cmocka_run_group_tests_name("sim_truth", tests, NULL, NULL);
  curl_global_cleanup();
  return rc ? 1 : 0;
}
