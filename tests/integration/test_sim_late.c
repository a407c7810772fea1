/* --late-uploads over HTTP (issue 23): a window of a late device's reports is missing
 * from /api/playback while out of coverage and after the reconnection until its upload,
 * then there; /api/track stays at the last report before the window, then shows the live
 * fix after it; the truth (positions.csv) holds every report and late.csv the windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim_client.h"

#define PRESENT 1793534400LL /* 2026-11-01T12:00:00Z */

typedef struct window {
  char imei[16];
  long long s, e, v;
} window_t;

static const char *base_args[] = {"--devices", "4", "--seed", "11", "--history", "2",
                                  "--speed", "0", "--no-traps",
                                  "--late-uploads", "share=1,window=10m,delay=15m"};
#define NBASE (sizeof base_args / sizeof base_args[0])

static int start_at(sc_t *sim, long long now, const char *truth) {
  const char *args[NBASE + 6];
  char nows[32];
  snprintf(nows, sizeof nows, "%lld", now);
  size_t n = 0;
  for (size_t i = 0; i < NBASE; i++) args[n++] = base_args[i];
  args[n++] = "--now";
  args[n++] = nows;
  if (truth) {
    args[n++] = "--truth";
    args[n++] = truth;
  }
  args[n] = NULL;
  if (sc_start(sim, args) != 0) return -1;
  return sc_login(sim);
}

/* gpstimes of the playback of imei over [b, e] (one page is enough here). */
static size_t playback(sc_t *sim, const char *imei, long long b, long long e, long long *out,
                       size_t cap) {
  cJSON *j = sc_getf(sim, "/api/playback?imei=%s&begintime=%lld&endtime=%lld", imei, b, e);
  int code = sc_code(j);
  size_t n = 0;
  if (code == 0) {
    const char *s = sc_record_string(j);
    for (const char *p = s; p && *p;) {
      double lon, lat;
      long long t;
      assert_int_equal(sscanf(p, "%lf,%lf,%lld", &lon, &lat, &t), 3);
      assert_true(n < cap);
      out[n++] = t;
      const char *semi = strchr(p, ';');
      if (!semi) break;
      p = semi + 1;
    }
  } else {
    assert_int_equal(code, 20023);
  }
  cJSON_Delete(j);
  return n;
}

static void track_of(sc_t *c, const char *imei, long long *heart, long long *sys, long long *gps) {
  cJSON *j = sc_getf(c, "/api/track?imeis=%s", imei);
  assert_int_equal(sc_code(j), 0);
  const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0);
  assert_non_null(r);
  *heart = (long long)cJSON_GetObjectItemCaseSensitive(r, "hearttime")->valuedouble;
  *sys = (long long)cJSON_GetObjectItemCaseSensitive(r, "systemtime")->valuedouble;
  *gps = (long long)cJSON_GetObjectItemCaseSensitive(r, "gpstime")->valuedouble;
  cJSON_Delete(j);
}

/* Positions of the truth for imei with gpstime in [b, e). */
static size_t truth_count(const char *dir, const char *imei, long long b, long long e) {
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/positions.csv", dir);
  FILE *in = fopen(path, "r");
  assert_non_null(in);
  size_t n = 0;
  while (fgets(line, sizeof line, in)) {
    char im[16];
    long long t;
    if (sscanf(line, "%15[0-9],%lld,", im, &t) == 2 && strcmp(im, imei) == 0 && t >= b && t < e) n++;
  }
  fclose(in);
  return n;
}

static void test_late_window(void **state) {
  (void)state;
  char dir[] = "/tmp/sim_late_XXXXXX";
  assert_non_null(mkdtemp(dir));
  sc_t sim;
  assert_int_equal(start_at(&sim, PRESENT, dir), 0);
  assert_int_equal(sc_stop(&sim), 0);
  /* a window of the history, long enough */
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/late.csv", dir);
  FILE *in = fopen(path, "r");
  assert_non_null(in);
  assert_non_null(fgets(line, sizeof line, in));
  assert_string_equal(line, "imei,from,to,visible_at\n");
  window_t w = {0};
  size_t rows = 0;
  while (fgets(line, sizeof line, in)) {
    window_t x;
    assert_int_equal(sscanf(line, "%15[0-9],%lld,%lld,%lld", x.imei, &x.s, &x.e, &x.v), 4);
    assert_int_equal(x.v, x.e + 900);
    assert_true(x.e - x.s >= 60 && x.e - x.s <= 600);
    rows++;
    if (!w.imei[0] && x.e - x.s >= 300 && x.v < PRESENT) w = x;
  }
  fclose(in);
  assert_true(rows >= 3);
  assert_true(w.imei[0] != '\0');
  size_t inside = truth_count(dir, w.imei, w.s, w.e);
  assert_true(inside >= 10);
  print_message("window %s [%lld, %lld) visible at %lld: %zu reports\n", w.imei, w.s, w.e, w.v, inside);

  static long long got[2000];
  long long heart, sys, gps;
  /* (1) out of coverage: track frozen before the window, playback without it */
  long long mid = (w.s + w.e) / 2;
  assert_int_equal(start_at(&sim, mid, NULL), 0);
  track_of(&sim, w.imei, &heart, &sys, &gps);
  assert_true(heart < w.s && heart >= w.s - 13 && gps == heart && sys < w.s + 15);
  size_t n = playback(&sim, w.imei, w.s - 120, mid, got, 2000);
  for (size_t k = 0; k < n; k++) assert_true(got[k] < w.s);
  assert_true(n > 0);
  assert_int_equal(sc_stop(&sim), 0);

  /* (2) reconnected, not yet uploaded: the live fix after the window is there, not the window */
  assert_int_equal(start_at(&sim, w.e + 60, NULL), 0);
  track_of(&sim, w.imei, &heart, &sys, &gps);
  assert_true(heart >= w.e && heart <= w.e + 60);
  assert_true(sys >= heart && sys <= w.e + 60);
  n = playback(&sim, w.imei, w.s - 120, w.e + 60, got, 2000);
  size_t before = 0, after = 0;
  for (size_t k = 0; k < n; k++) {
    assert_true(got[k] < w.s || got[k] >= w.e);
    before += got[k] < w.s;
    after += got[k] >= w.e;
  }
  assert_true(before > 0 && after > 0);
  assert_int_equal(sc_stop(&sim), 0);

  /* (3) once uploaded: every report of the truth, and the track moves on as usual */
  assert_int_equal(start_at(&sim, w.v, NULL), 0);
  n = playback(&sim, w.imei, w.s, w.e - 1, got, 2000);
  size_t distinct = 0;
  for (size_t k = 0; k < n; k++) distinct += k == 0 || got[k] != got[k - 1];
  assert_int_equal(distinct, inside);
  track_of(&sim, w.imei, &heart, &sys, &gps);
  assert_true(heart > w.e);
  assert_int_equal(sc_stop(&sim), 0);
  harness_rm_dir(dir);

  /* bad specs are usage errors */
  harness_sim_t hs;
  const char *bad[] = {"--late-uploads", "share=2", NULL};
  assert_int_not_equal(harness_sim_start(&hs, bad), 0);
  const char *bad2[] = {"--late-uploads", "window=3h,delay=3h", NULL};
  assert_int_not_equal(harness_sim_start(&hs, bad2), 0);
  const char *bad3[] = {"--late-uploads", "colour=red", NULL};
  assert_int_not_equal(harness_sim_start(&hs, bad3), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_late_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
