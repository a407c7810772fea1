/* Alarms the platform makes by itself (issue 12), over HTTP against the real binary:
 * --offline-after (offlineAlarm 28 when a silent device turns datastatus 4, while
 * /api/track's hearttime and systemtime stay at its last report), --silence, the same
 * flip seen live with a moving clock, --parking-alarm (parkingAlarm 30, equal to the
 * truth), and --track-behind (a device whose track systemtime stays behind its alarms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sim_client.h"

#define PRESENT 1793491200LL /* 2026-11-01T00:00:00Z */
#define HISTORY (3 * 86400LL)
#define SILENT_IMEI "999000000000002" /* a trap device: parked, heartbeats only */
#define LATE_IMEI "999000000000003"   /* the LATE_ALARMS trap: 360 alarms on its day */

typedef struct alarm_rec {
  int type;
  long long gpstime, systemtime;
  double lon, lat;
} alarm_rec_t;

/* Every alarm of imei with systemtime in [b, e], paged as the spec says (100 a page, the
 * next from the 100th's systemtime, duplicates at the seam dropped). Returns the count. */
static size_t alarm_all(sc_t *c, const char *imei, long long b, long long e, alarm_rec_t *out,
                        size_t cap, int *pages) {
  size_t n = 0;
  *pages = 0;
  for (;;) {
    cJSON *j = sc_getf(c, "/api/alarm/list?imei=%s&begintime=%lld&endtime=%lld", imei, b, e);
    int code = sc_code(j);
    if (code == 20023) {
      cJSON_Delete(j);
      break;
    }
    assert_int_equal(code, 0);
    (*pages)++;
    const char *s = sc_record_string(j);
    assert_non_null(s);
    int got = 0;
    long long last_sys = b;
    for (const char *p = s; *p;) {
      alarm_rec_t a;
      int speed, course;
      long long fence;
      assert_int_equal(sscanf(p, "%d,%lf,%lf,%lld,%lld,%d,%d,%lld", &a.type, &a.lon, &a.lat,
                              &a.gpstime, &a.systemtime, &speed, &course, &fence), 8);
      got++;
      last_sys = a.systemtime;
      bool dup = false;
      for (size_t k = 0; k < n; k++)
        if (out[k].type == a.type && out[k].gpstime == a.gpstime && out[k].systemtime == a.systemtime)
          dup = true;
      if (!dup) {
        assert_true(n < cap);
        out[n++] = a;
      }
      const char *semi = strchr(p, ';');
      if (!semi) break;
      p = semi + 1;
    }
    cJSON_Delete(j);
    if (got < 100) break;
    b = last_sys;
  }
  return n;
}

/* The track record of one imei: hearttime, systemtime, datastatus, servertime. */
static void track_of(sc_t *c, const char *imei, long long *heart, long long *sys, int *ds,
                     long long *server) {
  cJSON *j = sc_getf(c, "/api/track?imeis=%s", imei);
  assert_int_equal(sc_code(j), 0);
  const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "record"), 0);
  assert_non_null(r);
  *heart = (long long)cJSON_GetObjectItemCaseSensitive(r, "hearttime")->valuedouble;
  *sys = (long long)cJSON_GetObjectItemCaseSensitive(r, "systemtime")->valuedouble;
  *ds = cJSON_GetObjectItemCaseSensitive(r, "datastatus")->valueint;
  *server = (long long)cJSON_GetObjectItemCaseSensitive(r, "servertime")->valuedouble;
  cJSON_Delete(j);
}

/* Rows of the truth's alarms.csv for imei and type: gpstime, systemtime. */
static size_t truth_alarms(const char *dir, const char *imei, int type, alarm_rec_t *out, size_t cap) {
  char path[512], line[512];
  snprintf(path, sizeof path, "%s/alarms.csv", dir);
  FILE *in = fopen(path, "r");
  assert_non_null(in);
  size_t n = 0;
  while (fgets(line, sizeof line, in)) {
    char im[16];
    alarm_rec_t a;
    if (sscanf(line, "%15[0-9],%d,%lld,%lld,%lf,%lf", im, &a.type, &a.gpstime, &a.systemtime,
               &a.lon, &a.lat) != 6)
      continue;
    if (strcmp(im, imei) != 0 || a.type != type) continue;
    assert_true(n < cap);
    out[n++] = a;
  }
  fclose(in);
  return n;
}

/* A device silenced 3 h before the present, offline timeout 1 h: datastatus 4, one
 * offlineAlarm at hearttime + 1 h that /api/track's systemtime does not reach, the same
 * row in the truth; no playback after the silence. Off by default. */
static void test_offline_alarm(void **state) {
  (void)state;
  char dir[] = "/tmp/sim_platform_XXXXXX", silence[64], now[32];
  assert_non_null(mkdtemp(dir));
  snprintf(silence, sizeof silence, SILENT_IMEI "@%lld", PRESENT - 3 * 3600);
  snprintf(now, sizeof now, "%lld", PRESENT);
  const char *args[] = {"--devices", "10", "--seed", "5", "--history", "3", "--now", now,
                        "--speed", "0", "--offline-after", "1h", "--silence", silence,
                        "--truth", dir, NULL};
  sc_t sim;
  assert_int_equal(sc_start(&sim, args), 0);
  assert_int_equal(sc_login(&sim), 0);
  long long heart, sys, server;
  int ds;
  track_of(&sim, SILENT_IMEI, &heart, &sys, &ds, &server);
  assert_int_equal(server, PRESENT);
  assert_int_equal(ds, 4);
  assert_true(heart < PRESENT - 3 * 3600 && heart > PRESENT - 3 * 3600 - 1800);
  alarm_rec_t al[400];
  int pages;
  size_t n = alarm_all(&sim, SILENT_IMEI, PRESENT - HISTORY, PRESENT, al, 400, &pages);
  size_t n28 = 0;
  for (size_t k = 0; k < n; k++) {
    if (al[k].type != 28) continue;
    n28++;
    assert_int_equal(al[k].gpstime, heart + 3600);
    assert_int_equal(al[k].systemtime, heart + 3600);
    assert_true(al[k].systemtime > sys); /* the track does not show it */
  }
  assert_int_equal(n28, 1);
  assert_int_equal(sc_get_code(&sim, "/api/playback?imei=" SILENT_IMEI "&begintime=%lld&endtime=%lld",
                               PRESENT - 3 * 3600, PRESENT),
                   20023);
  alarm_rec_t tr[4];
  assert_int_equal(truth_alarms(dir, SILENT_IMEI, 28, tr, 4), 1);
  assert_int_equal(tr[0].gpstime, heart + 3600);
  assert_int_equal(tr[0].systemtime, heart + 3600);
  assert_int_equal(sc_stop(&sim), 0);
  harness_rm_dir(dir);

  /* without --offline-after: no offline alarm (a day of silence makes datastatus 4) */
  const char *plain[] = {"--devices", "10", "--seed", "5", "--history", "3", "--now", now,
                         "--speed", "0", "--silence", silence, NULL};
  assert_int_equal(sc_start(&sim, plain), 0);
  assert_int_equal(sc_login(&sim), 0);
  track_of(&sim, SILENT_IMEI, &heart, &sys, &ds, &server);
  assert_int_equal(ds, 2);
  n = alarm_all(&sim, SILENT_IMEI, PRESENT - HISTORY, PRESENT, al, 400, &pages);
  for (size_t k = 0; k < n; k++) assert_int_not_equal(al[k].type, 28);
  assert_int_equal(sc_stop(&sim), 0);

  /* bad values are usage errors */
  const char *bad[] = {"--offline-after", "10m", NULL};
  harness_sim_t hs;
  assert_int_not_equal(harness_sim_start(&hs, bad), 0);
  const char *bad2[] = {"--silence", "123456789012345@" "2026-11-01", NULL};
  assert_int_not_equal(harness_sim_start(&hs, bad2), 0);
}

/* With the clock moving (600x), a device silenced just after the start turns offline
 * while a client watches: hearttime and systemtime never move, then datastatus flips
 * 4 and the offlineAlarm is there, at or before the present. */
static void test_offline_flip_live(void **state) {
  (void)state;
  char silence[64], now[32];
  snprintf(silence, sizeof silence, SILENT_IMEI "@%lld", PRESENT + 60);
  snprintf(now, sizeof now, "%lld", PRESENT);
  const char *args[] = {"--devices", "5", "--seed", "5", "--history", "2", "--now", now,
                        "--speed", "600", "--offline-after", "31m", "--silence", silence, NULL};
  sc_t sim;
  assert_int_equal(sc_start(&sim, args), 0);
  assert_int_equal(sc_login(&sim), 0);
  long long heart0 = -1, sys0 = -1, heart, sys, server = 0;
  int ds = 0, polls = 0;
  for (int i = 0; i < 400; i++) { /* <= 40 s real */
    track_of(&sim, SILENT_IMEI, &heart, &sys, &ds, &server);
    polls++;
    if (server > PRESENT + 60 + 10) {
      if (heart0 < 0) heart0 = heart, sys0 = sys;
      assert_int_equal(heart, heart0);
      assert_int_equal(sys, sys0);
    }
    if (ds == 4) break;
    usleep(100 * 1000);
  }
  assert_int_equal(ds, 4);
  assert_true(heart0 > 0);
  assert_true(server >= heart + 1860);
  alarm_rec_t al[400];
  int pages;
  size_t n = alarm_all(&sim, SILENT_IMEI, heart, server, al, 400, &pages);
  size_t n28 = 0;
  for (size_t k = 0; k < n; k++)
    if (al[k].type == 28) {
      n28++;
      assert_int_equal(al[k].systemtime, heart + 1860);
    }
  assert_int_equal(n28, 1);
  print_message("offline after %d track polls, alarm at %lld\n", polls, heart + 1860);
  assert_int_equal(sc_stop(&sim), 0);
}

/* --parking-alarm 15m: for the device with the most of them, every parkingAlarm of the
 * truth comes back from alarm/list, and no other. */
static void test_parking_alarm(void **state) {
  (void)state;
  char dir[] = "/tmp/sim_platform_XXXXXX", now[32];
  assert_non_null(mkdtemp(dir));
  snprintf(now, sizeof now, "%lld", PRESENT);
  const char *args[] = {"--devices", "6", "--seed", "9", "--history", "3", "--now", now,
                        "--speed", "0", "--parking-alarm", "15m", "--truth", dir, "--no-traps", NULL};
  sc_t sim;
  assert_int_equal(sc_start(&sim, args), 0);
  assert_int_equal(sc_login(&sim), 0);
  char imeis[8][16];
  int nimeis = 0;
  assert_true(sc_walk_tree(&sim, sim.sim.account, imeis, NULL, &nimeis, 8) > 0);
  assert_int_equal(nimeis, 6);
  size_t best = 0;
  int bi = -1;
  static alarm_rec_t tr[400], al[2000];
  for (int i = 0; i < nimeis; i++) {
    size_t k = truth_alarms(dir, imeis[i], 30, tr, 400);
    if (k > best) best = k, bi = i;
  }
  assert_true(bi >= 0 && best >= 3);
  size_t nt = truth_alarms(dir, imeis[bi], 30, tr, 400);
  int pages;
  size_t n = alarm_all(&sim, imeis[bi], PRESENT - HISTORY, PRESENT, al, 2000, &pages);
  size_t n30 = 0;
  for (size_t k = 0; k < n; k++) {
    if (al[k].type != 30) continue;
    n30++;
    assert_int_equal(al[k].gpstime, al[k].systemtime);
    bool in_truth = false;
    for (size_t t = 0; t < nt; t++) in_truth |= tr[t].gpstime == al[k].gpstime;
    assert_true(in_truth);
  }
  assert_int_equal(n30, nt);
  print_message("%zu parking alarms of %s, %d alarm pages\n", n30, imeis[bi], pages);
  assert_int_equal(sc_stop(&sim), 0);
  harness_rm_dir(dir);
}

/* --track-behind: the LATE_ALARMS trap's track answers as of its day's first minutes, so
 * full pages of alarms lie wholly after the track's systemtime. */
static void test_track_behind(void **state) {
  (void)state;
  char behind[64], now[32];
  long long day = PRESENT - HISTORY; /* history starts at a midnight: its first day */
  snprintf(behind, sizeof behind, LATE_IMEI "@%lld", day + 600);
  snprintf(now, sizeof now, "%lld", PRESENT);
  const char *args[] = {"--devices", "5", "--seed", "5", "--history", "3", "--now", now,
                        "--speed", "0", "--track-behind", behind, NULL};
  sc_t sim;
  assert_int_equal(sc_start(&sim, args), 0);
  assert_int_equal(sc_login(&sim), 0);
  long long heart, sys, server;
  int ds;
  track_of(&sim, LATE_IMEI, &heart, &sys, &ds, &server);
  assert_int_equal(server, PRESENT);
  assert_true(heart <= day + 600 && sys <= day + 600);
  static alarm_rec_t al[2000];
  int pages;
  size_t n = alarm_all(&sim, LATE_IMEI, sys + 1, PRESENT, al, 2000, &pages);
  assert_true(n > 300);
  assert_true(pages >= 4);
  for (size_t k = 0; k < n; k++) assert_true(al[k].systemtime > sys);
  /* the other devices answer as of the present */
  track_of(&sim, "999000000000001", &heart, &sys, &ds, &server);
  assert_true(heart > PRESENT - 3600);
  assert_int_equal(sc_stop(&sim), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_offline_alarm),
    cmocka_unit_test(test_offline_flip_live),
    cmocka_unit_test(test_parking_alarm),
    cmocka_unit_test(test_track_behind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
