/* pgw's two paths for positions and alarms against a real PostgreSQL: the direct binary
 * COPY into the real tables (exact values stored, all rows new) and the fallback to
 * staging + ON CONFLICT when a batch overlaps stored rows (exact new/duplicate counts, no
 * row twice, one callback), and a batch failing for its data failing alone, on either
 * path, with nothing of it stored; a partition dropped behind the writer's back is made
 * again on either path. */
#include <errno.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <cmocka.h>

#include "db/pgw.h"

#include "pgw_run.h"
#include "testdb.h"

static testdb_t db;

#define T0 1767225600LL /* 2026-01-01 */

/* Positions t0 + i*60 for i in [from, to) of `imei`. */
static void add_positions(pgw_batch_t *b, const char *imei, int from, int to) {
  for (int i = from; i < to; i++)
    assert_int_equal(pgw_batch_add_position(b, imei, T0 + i * 60, 10 + i * 1e-6, -20 - i * 1e-6,
                                            i % 200, i % 360), 0);
}

static void add_alarm(pgw_batch_t *b, const char *imei, int type, int i) {
  assert_int_equal(pgw_batch_add_alarm(b, imei, type, T0 + i * 60, T0 + i * 60 + 5, 1.5, -2.5,
                                       i, 90, i * 7), 0);
}

/* ---- the direct path stores exact values ---- */

static void test_direct_values(void **state) {
  (void)state;
  pgw_batch_t *b = pgw_batch_new("0-direct");
  /* Exact doubles, negative numbers, a time before 1970 (its own partition), time 0. */
  assert_int_equal(pgw_batch_add_position(b, "v1", 1419906052, 113.909813, -22.583197, -1,
                                          359), 0);
  assert_int_equal(pgw_batch_add_position(b, "v1", -86400 * 40, 0.1, 1e-300, 2147483647,
                                          -2147483647 - 1), 0);
  assert_int_equal(pgw_batch_add_alarm(b, "v1", 27, 1541575497, 0, 113.885888, 22.580592, 40,
                                       41, 9007199254740993LL), 0);
  assert_int_equal(pgw_batch_move_cursor(b, "v1", STREAM_PLAYBACK, 1419906052), 0);
  pgw_run_t r;
  pgw_run_batches(&r, db.conninfo, &b, 1, NULL, NULL);
  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(r.res[0].positions_new, 2);
  assert_int_equal(r.res[0].positions_dup, 0);
  assert_int_equal(r.res[0].alarms_new, 1);
  assert_int_equal(r.res[0].alarms_dup, 0);
  assert_int_equal(r.res[0].cursors_moved, 1);
  assert_string_equal(testdb_scalar(&db, "SELECT string_agg(concat_ws(',', extract(epoch FROM gpstime)::bigint,"
                                         " longitude, latitude, speed, course), ';' ORDER BY gpstime)"
                                         " FROM fleetarc.positions WHERE imei = 'v1'"),
                      "-3456000,0.1,1e-300,2147483647,-2147483648;"
                      "1419906052,113.909813,-22.583197,-1,359");
  assert_string_equal(testdb_scalar(&db, "SELECT concat_ws(',', alarm_type, extract(epoch FROM gpstime)::bigint,"
                                         " extract(epoch FROM systemtime)::bigint, longitude, latitude,"
                                         " speed, course, geofence_id) FROM fleetarc.alarms WHERE imei = 'v1'"),
                      "27,1541575497,0,113.885888,22.580592,40,41,9007199254740993");
  /* The pre-1970 row went to a partition of its own month. */
  assert_string_equal(testdb_scalar(&db, "SELECT tableoid::regclass::text FROM fleetarc.positions"
                                         " WHERE imei = 'v1' AND gpstime < '1970-01-01Z'"),
                      "fleetarc.positions_196911");
}

/* ---- overlap with stored rows: the fallback ---- */

static void test_overlap_fallback(void **state) {
  (void)state;
  /* Stored first: positions 0..99 and alarms 0..2 of "ov" (direct path). */
  pgw_batch_t *b[5];
  b[0] = pgw_batch_new("0-first");
  add_positions(b[0], "ov", 0, 100);
  for (int i = 0; i < 3; i++) add_alarm(b[0], "ov", 1, i);
  assert_int_equal(pgw_batch_move_cursor(b[0], "ov", STREAM_PLAYBACK, T0 + 99 * 60), 0);
  /* 1: overlaps: positions 50..149 (50 stored), alarms 0..9 (3 stored), cursor forward. */
  b[1] = pgw_batch_new("1-overlap");
  add_positions(b[1], "ov", 50, 150);
  for (int i = 0; i < 10; i++) add_alarm(b[1], "ov", 1, i);
  assert_int_equal(pgw_batch_move_cursor(b[1], "ov", STREAM_PLAYBACK, T0 + 149 * 60), 0);
  /* 2: the same batch again, as after a crash between COMMIT and its acknowledgement. */
  b[2] = pgw_batch_new("2-again");
  add_positions(b[2], "ov", 50, 150);
  for (int i = 0; i < 10; i++) add_alarm(b[2], "ov", 1, i);
  /* 3: a key twice within one batch, nothing stored: one new, one duplicate. */
  b[3] = pgw_batch_new("3-twice");
  add_positions(b[3], "tw", 0, 1);
  add_positions(b[3], "tw", 0, 2);
  /* 4: no overlap after all that: the direct path again, every row new. */
  b[4] = pgw_batch_new("4-fresh");
  add_positions(b[4], "ov", 150, 200);
  pgw_run_t r;
  pgw_run_batches(&r, db.conninfo, b, 5, NULL, NULL);
  for (int i = 0; i < 5; i++) {
    if (r.res[i].status != 0) fprintf(stderr, "%d: %s\n", i, r.err[i]);
    assert_int_equal(r.res[i].status, 0);
  }
  assert_int_equal(r.res[0].positions_new, 100);
  assert_int_equal(r.res[0].alarms_new, 3);
  assert_int_equal(r.res[1].positions_new, 50);
  assert_int_equal(r.res[1].positions_dup, 50);
  assert_int_equal(r.res[1].alarms_new, 7);
  assert_int_equal(r.res[1].alarms_dup, 3);
  assert_int_equal(r.res[1].cursors_moved, 1);
  assert_int_equal(r.res[2].positions_new, 0);
  assert_int_equal(r.res[2].positions_dup, 100);
  assert_int_equal(r.res[2].alarms_new, 0);
  assert_int_equal(r.res[2].alarms_dup, 10);
  assert_int_equal(r.res[3].positions_new, 2);
  assert_int_equal(r.res[3].positions_dup, 1);
  assert_int_equal(r.res[4].positions_new, 50);
  assert_int_equal(r.res[4].positions_dup, 0);

  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'ov'"), 200);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(DISTINCT gpstime) FROM fleetarc.positions"
                                         " WHERE imei = 'ov'"), 200);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.alarms WHERE imei = 'ov'"), 10);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'tw'"), 2);
  /* Rows of the fallback path carry the batch's values exactly, too. */
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT longitude = %.17g AND latitude = %.17g AND speed = 149 AND course = 149"
           " FROM fleetarc.positions WHERE imei = 'ov'"
           " AND gpstime = to_timestamp(1767225600 + 149 * 60)",
           10 + 149 * 1e-6, -20 - 149 * 1e-6);
  assert_string_equal(testdb_scalar(&db, sql), "t");
  assert_string_equal(testdb_scalar(&db, "SELECT concat_ws(',', geofence_id,"
                                         " extract(epoch FROM systemtime)::bigint - 1767225600)"
                                         " FROM fleetarc.alarms WHERE imei = 'ov'"
                                         " AND gpstime = to_timestamp(1767225600 + 9 * 60)"),
                      "63,545");
  assert_int_equal(testdb_scalar_ll(&db, "SELECT extract(epoch FROM cursor)::bigint FROM fleetarc.cursors"
                                         " WHERE imei = 'ov' AND stream = 'playback'"), T0 + 149 * 60);
}

/* ---- data errors fail their batch only, on either path ---- */

static void test_data_errors_alone(void **state) {
  (void)state;
  pgw_batch_t *b[5];
  b[0] = pgw_batch_new("0-good");
  add_positions(b[0], "de", 0, 10);
  /* 1: direct path, a time beyond PostgreSQL's range in the middle. */
  b[1] = pgw_batch_new("1-bad-time");
  add_positions(b[1], "de1", 0, 5);
  assert_int_equal(pgw_batch_add_position(b[1], "de1", INT64_MAX / 2, 0, 0, 0, 0), 0);
  add_positions(b[1], "de1", 5, 10);
  assert_int_equal(pgw_batch_move_cursor(b[1], "de1", STREAM_PLAYBACK, T0), 0);
  /* 2: direct path, an alarm whose imei is not UTF-8. */
  b[2] = pgw_batch_new("2-bad-utf8");
  add_positions(b[2], "de2", 0, 3);
  add_alarm(b[2], "\xff\xfe", 1, 0);
  /* 3: overlaps stored rows first (fallback), then a bad time: fails on the slow path. */
  b[3] = pgw_batch_new("3-overlap-then-bad");
  add_positions(b[3], "de", 5, 15);
  assert_int_equal(pgw_batch_add_position(b[3], "de", -INT64_MAX / 2, 0, 0, 0, 0), 0);
  assert_int_equal(pgw_batch_move_cursor(b[3], "de", STREAM_PLAYBACK, T0 + 3600), 0);
  /* 4: the writer goes on. */
  b[4] = pgw_batch_new("4-good-after");
  add_positions(b[4], "de", 10, 20);
  pgw_run_t r;
  pgw_run_batches(&r, db.conninfo, b, 5, NULL, NULL);

  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(r.res[0].positions_new, 10);
  assert_int_equal(r.res[1].status, -EIO);
  assert_non_null(strstr(r.err[1], "1-bad-time"));
  assert_non_null(strstr(r.err[1], "SQLSTATE 22008"));
  assert_int_equal(r.res[1].positions_new, 0);
  assert_int_equal(r.res[2].status, -EIO);
  assert_non_null(strstr(r.err[2], "SQLSTATE 22021"));
  assert_int_equal(r.res[3].status, -EIO);
  assert_non_null(strstr(r.err[3], "3-overlap-then-bad"));
  assert_non_null(strstr(r.err[3], "SQLSTATE 22008"));
  assert_int_equal(r.res[3].positions_new, 0);
  assert_int_equal(r.res[3].positions_dup, 0);
  assert_int_equal(r.res[4].status, 0);
  assert_int_equal(r.res[4].positions_new, 10);
  assert_int_equal(r.res[4].positions_dup, 0);

  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'de1'"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'de2'"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.cursors"
                                         " WHERE imei IN ('de', 'de1')"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'de'"), 20);
}

/* ---- a partition dropped behind the writer's back ---- */

static void drop_partitions(pgw_run_t *r, void *arg) {
  (void)r;
  (void)arg;
  testdb_exec(db.checker, "DROP TABLE fleetarc.positions_203005, fleetarc.alarms_203005");
}

/* The writer knows May 2030 exists (it made it for batch 0); it is dropped; batch 1
 * (direct path) and batch 2 (overlapping batch 1: fallback) must still land, after one
 * retry that makes the partition again. */
static void test_partition_dropped(void **state) {
  (void)state;
  const int64_t may = 1904169600; /* 2030-05-05 */
  pgw_batch_t *b[3];
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof name, "%d-may", i);
    b[i] = pgw_batch_new(name);
  }
  assert_int_equal(pgw_batch_add_position(b[0], "pd", may, 1, 2, 3, 4), 0);
  assert_int_equal(pgw_batch_add_position(b[1], "pd", may + 60, 1, 2, 3, 4), 0);
  assert_int_equal(pgw_batch_add_alarm(b[1], "pd", 2, may + 60, may + 61, 1, 2, 3, 4, 0), 0);
  assert_int_equal(pgw_batch_add_position(b[2], "pd", may + 60, 1, 2, 3, 4), 0);
  assert_int_equal(pgw_batch_add_position(b[2], "pd", may + 120, 1, 2, 3, 4), 0);
  pgw_run_t r;
  pgw_run_batches(&r, db.conninfo, b, 3, drop_partitions, NULL);
  for (int i = 0; i < 3; i++) {
    if (r.res[i].status != 0) fprintf(stderr, "%d: %s\n", i, r.err[i]);
    assert_int_equal(r.res[i].status, 0);
  }
  assert_int_equal(r.res[0].positions_new, 1);
  assert_int_equal(r.res[1].positions_new, 1);
  assert_int_equal(r.res[1].alarms_new, 1);
  assert_int_equal(r.res[1].attempts, 2);
  assert_int_equal(r.res[2].positions_new, 1);
  assert_int_equal(r.res[2].positions_dup, 1);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions_203005"), 2);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.alarms_203005"), 1);
}

int main(void) {
  if (testdb_setup(&db, "fleetarc_test_db_pgw_fastpath") != 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_direct_values),
    cmocka_unit_test(test_overlap_fallback),
    cmocka_unit_test(test_data_errors_alone),
    cmocka_unit_test(test_partition_dropped),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  testdb_teardown(&db);
  return rc;
}
