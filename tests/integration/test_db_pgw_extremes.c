/* pgw's upsert kinds (device_state, devices, daily mileage, removals, cursors) at the edges
 * of their types, against a real PostgreSQL: extreme, subnormal, infinite, NaN and
 * negative-zero doubles, the int/int64 limits, the smallint limits of the statuses, times
 * far before and after 1970, empty and multi-byte text and a lone "\." line, the -1/0
 * sentinels stored as NULL, the last upsert in a batch winning; a status beyond smallint
 * (SQLSTATE 22003) is isolated into fleetarc.rejected, the rest of its batch commits. */
#include <errno.h>
#include <float.h>
#include <libpq-fe.h>
#include <limits.h>
#include <math.h>
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

/* The columns of a device_state row as one text (NULL shown as "null"). */
#define STATE_ROW(imei)                                                                        \
  "SELECT concat_ws(',', coalesce(extract(epoch FROM servertime)::bigint::text, 'null'),"     \
  " coalesce(extract(epoch FROM gpstime)::bigint::text, 'null'),"                             \
  " coalesce(extract(epoch FROM hearttime)::bigint::text, 'null'),"                           \
  " coalesce(extract(epoch FROM systemtime)::bigint::text, 'null'), longitude, latitude,"     \
  " course, speed, acctime, coalesce(accstatus::text, 'null'),"                               \
  " coalesce(doorstatus::text, 'null'), coalesce(chargestatus::text, 'null'),"                \
  " coalesce(oilpowerstatus::text, 'null'), coalesce(defencestatus::text, 'null'),"           \
  " datastatus, coalesce(battery::text, 'null'), coalesce(mileage::text, 'null'),"            \
  " coalesce(todaymileage::text, 'null')) FROM fleetarc.device_state WHERE imei = '" imei "'"

static void test_extremes(void **state) {
  (void)state;
  pgw_batch_t *b[3];

  /* 0: every upsert kind at its edges. */
  b[0] = pgw_batch_new("0-extremes");
  pgw_device_state_t hi = {
    .imei = "x1", .servertime = 1, .gpstime = -1, .hearttime = 253402300799LL /* 9999-12-31 */,
    .systemtime = -62135596800LL /* 0001-01-01 */, .longitude = DBL_MAX,
    .latitude = -DBL_TRUE_MIN, .course = INT_MAX, .speed = INT_MIN, .acctime = INT64_MIN,
    .accstatus = 32767, .doorstatus = -32768, .chargestatus = 0, .oilpowerstatus = -2,
    .defencestatus = 1, .datastatus = -32768, .battery = INT_MIN, .mileage = INT64_MAX,
    .todaymileage = INT64_MIN};
  assert_int_equal(pgw_batch_add_device_state(b[0], &hi), 0);
  /* Sentinels: time 0 and -1 statuses are NULL; datastatus and acctime have none. */
  pgw_device_state_t inf = {
    .imei = "x2", .longitude = INFINITY, .latitude = -INFINITY, .course = -1, .speed = -1,
    .acctime = -1, .accstatus = -1, .doorstatus = -1, .chargestatus = -1,
    .oilpowerstatus = -1, .defencestatus = -1, .datastatus = -1, .battery = -1,
    .mileage = -1, .todaymileage = -1};
  assert_int_equal(pgw_batch_add_device_state(b[0], &inf), 0);
  pgw_device_state_t nan_row = inf;
  nan_row.imei = "x3";
  nan_row.longitude = NAN;
  nan_row.latitude = -0.0;
  nan_row.servertime = 1420964313;
  nan_row.speed = 1; /* replaced by the next upsert of x3 in this batch */
  assert_int_equal(pgw_batch_add_device_state(b[0], &nan_row), 0);
  nan_row.speed = 2;
  nan_row.servertime = 1420964000; /* older, but within one batch the last one wins */
  assert_int_equal(pgw_batch_add_device_state(b[0], &nan_row), 0);

  static char longname[20001];
  memset(longname, 'n', sizeof longname - 1);
  pgw_device_t dev = {.imei = "x1", .account = "", .devicename = "\\.",
                      .devicetype = "\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "de \xe2\x9c\x93",
                      .platenumber = "a\n\\.\nb", .simcard = longname, .iccid = NULL,
                      .onlinetime = -1, .platformduetime = INT64_C(253402300799),
                      .activatedtime = 0, .userduetime = 1};
  assert_int_equal(pgw_batch_add_device(b[0], &dev), 0);
  pgw_device_t gone = {.imei = "x2", .account = "demo"};
  assert_int_equal(pgw_batch_add_device(b[0], &gone), 0);
  assert_int_equal(pgw_batch_mark_removed(b[0], "x2"), 0);
  assert_int_equal(pgw_batch_mark_removed(b[0], "no-such-device"), 0);

  assert_int_equal(pgw_batch_add_mileage(b[0], "x1", 0, DBL_MAX), 0);
  assert_int_equal(pgw_batch_add_mileage(b[0], "x1", -1, DBL_TRUE_MIN), 0);
  assert_int_equal(pgw_batch_add_mileage(b[0], "x1", -86400, -0.0), 0); /* same day as -1 */

  assert_int_equal(pgw_batch_move_cursor_key(b[0], "x1", "playback@1-253402300799", 253402300799LL), 0);
  assert_int_equal(pgw_batch_move_cursor(b[0], "x1", STREAM_MILEAGE, -62135596800LL), 0);
  assert_int_equal(pgw_batch_move_cursor(b[0], "x1", STREAM_MILEAGE, -62135596799LL), 0);

  /* 1: a status beyond smallint: the batch fails for its data, alone. */
  b[1] = pgw_batch_new("1-smallint");
  pgw_device_state_t big = hi;
  big.imei = "y1";
  big.accstatus = 32768;
  assert_int_equal(pgw_batch_add_device_state(b[1], &big), 0);
  assert_int_equal(pgw_batch_move_cursor(b[1], "y1", STREAM_PLAYBACK, 1), 0);

  /* 2: the writer goes on; an older record leaves x1 as it is. */
  b[2] = pgw_batch_new("2-after");
  pgw_device_state_t older = hi;
  older.servertime = -5;
  older.speed = 7;
  assert_int_equal(pgw_batch_add_device_state(b[2], &older), 0);
  pgw_device_state_t fine = inf;
  fine.imei = "y2";
  fine.datastatus = 2;
  assert_int_equal(pgw_batch_add_device_state(b[2], &fine), 0);

  pgw_run_t r;
  pgw_run_batches(&r, db.conninfo, b, 3, NULL, NULL);

  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(r.res[0].device_states, 3);
  assert_int_equal(r.res[0].devices, 2);
  assert_int_equal(r.res[0].mileage_days, 2);
  assert_int_equal(r.res[0].cursors_moved, 2);
  assert_string_equal(testdb_scalar(&db, STATE_ROW("x1")),
                      "1,-1,253402300799,-62135596800,1.7976931348623157e+308,-5e-324,"
                      "2147483647,-2147483648,-9223372036854775808,32767,-32768,0,-2,1,-32768,"
                      "-2147483648,9223372036854775807,-9223372036854775808");
  assert_string_equal(testdb_scalar(&db, STATE_ROW("x2")),
                      "null,null,null,null,Infinity,-Infinity,-1,-1,-1,null,null,null,null,"
                      "null,-1,null,null,null");
  assert_string_equal(testdb_scalar(&db, STATE_ROW("x3")),
                      "1420964000,null,null,null,NaN,-0,-1,2,-1,null,null,null,null,null,-1,"
                      "null,null,null");
  /* Exactly the doubles sent, not just their shortest spelling. */
  assert_string_equal(testdb_scalar(&db, "SELECT longitude = 'Infinity' AND latitude = '-Infinity' AND "
                                         "1 / latitude = 0 FROM fleetarc.device_state WHERE imei = 'x2'"),
                      "t");
  assert_string_equal(testdb_scalar(&db, "SELECT longitude = 1.7976931348623157e308::float8 AND "
                                         "latitude = '-4.9406564584124654e-324'::float8 AND "
                                         "latitude < 0 FROM fleetarc.device_state WHERE imei = 'x1'"),
                      "t");

  assert_string_equal(testdb_scalar(&db, "SELECT concat_ws('|', '[' || account || ']', devicename, "
                                         "devicetype, platenumber, length(simcard), "
                                         "coalesce(iccid, 'null'), extract(epoch FROM onlinetime)::bigint, "
                                         "extract(epoch FROM platformduetime)::bigint, "
                                         "coalesce(activatedtime::text, 'null'), "
                                         "extract(epoch FROM userduetime)::bigint, "
                                         "coalesce(removed_at::text, 'null')) "
                                         "FROM fleetarc.devices WHERE imei = 'x1'"),
                      "[]|\\.|\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "de \xe2\x9c\x93|a\n\\.\nb|20000|"
                      "null|-1|253402300799|null|1|null");
  assert_string_equal(testdb_scalar(&db, "SELECT removed_at IS NOT NULL AND devicename IS NULL "
                                         "FROM fleetarc.devices WHERE imei = 'x2'"), "t");
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.devices"), 2);

  assert_string_equal(testdb_scalar(&db, "SELECT string_agg(day || '=' || km, ',' ORDER BY day) "
                                         "FROM fleetarc.daily_mileage WHERE imei = 'x1'"),
                      "1969-12-31=-0,1970-01-01=1.7976931348623157e+308");

  assert_int_equal(testdb_scalar_ll(&db, "SELECT extract(epoch FROM cursor)::bigint FROM fleetarc.cursors "
                                         "WHERE imei = 'x1' AND stream = 'playback@1-253402300799'"),
                   253402300799LL);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT extract(epoch FROM cursor)::bigint FROM fleetarc.cursors "
                                         "WHERE imei = 'x1' AND stream = 'mileage'"), -62135596799LL);

  /* The refused row is isolated: kept in fleetarc.rejected, the rest of its batch (the
   * cursor) commits. */
  assert_int_equal(r.res[1].status, 0);
  assert_int_equal(r.res[1].rows_rejected, 1);
  assert_int_equal(r.res[1].device_states, 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.device_state WHERE imei = 'y1'"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.cursors WHERE imei = 'y1'"), 1);
  assert_non_null(strstr(testdb_scalar(&db, "SELECT error FROM fleetarc.rejected WHERE imei = 'y1'"
                                            " AND source = 'device_state'"), "SQLSTATE 22003"));

  assert_int_equal(r.res[2].status, 0);
  assert_int_equal(r.res[2].device_states, 1);
  assert_string_equal(testdb_scalar(&db, "SELECT speed FROM fleetarc.device_state WHERE imei = 'x1'"),
                      "-2147483648");
  assert_string_equal(testdb_scalar(&db, "SELECT datastatus FROM fleetarc.device_state WHERE imei = 'y2'"),
                      "2");
}

int main(void) {
  if (testdb_setup(&db, "fleetarc_test_db_pgw_extremes") != 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_extremes),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  testdb_teardown(&db);
  return rc;
}
