/* A row PostgreSQL refuses is isolated, against a real PostgreSQL: a batch of several
 * devices holds one position a CHECK constraint (added here) refuses and one device_state
 * whose status does not fit its smallint column (SQLSTATE 22003). The batch commits without
 * them: every good row and every cursor move exactly once, the two refused rows in
 * fleetarc.rejected with their error, the callback a success counting them. The same batch
 * again (overlap, then the merge path) duplicates nothing, fleetarc.rejected included. */
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

static pgw_batch_t *mixed_batch(const char *name) {
  pgw_batch_t *b = pgw_batch_new(name);
  assert_non_null(b);
  const char *imeis[] = {"r1", "r2", "r3"};
  for (int d = 0; d < 3; d++) {
    for (int i = 0; i < 3; i++) {
      /* r2's second point: speed 666, refused by the test's CHECK constraint. */
      int speed = (d == 1 && i == 1) ? 666 : 10 * i;
      assert_int_equal(pgw_batch_add_position(b, imeis[d], T0 + 60 * i, 10.5 + d, 50.25, speed, 90),
                       0);
    }
    assert_int_equal(pgw_batch_move_cursor(b, imeis[d], STREAM_PLAYBACK, T0 + 120), 0);
  }
  assert_int_equal(pgw_batch_add_alarm(b, "r1", 5, T0 + 30, T0 + 31, 10.5, 50.25, 3, 4, 0), 0);
  pgw_device_state_t ok = {.imei = "r1", .servertime = T0 + 200, .gpstime = T0 + 120,
                           .longitude = 10.5, .latitude = 50.25, .accstatus = 1,
                           .doorstatus = -1, .chargestatus = -1, .oilpowerstatus = -1,
                           .defencestatus = -1, .battery = -1, .mileage = -1,
                           .todaymileage = -1};
  assert_int_equal(pgw_batch_add_device_state(b, &ok), 0);
  pgw_device_state_t bad = ok;
  bad.imei = "r3";
  bad.accstatus = 40000; /* beyond smallint: 22003 in the merge */
  assert_int_equal(pgw_batch_add_device_state(b, &bad), 0);
  return b;
}

static pgw_run_t r;
static pgw_stats_t stats_after_first;

/* In batch 0's callback: the writer's counters once it has committed. */
static void after_first(pgw_run_t *run, void *arg) { pgw_get_stats(run->w, arg); }

static void test_refused_rows_isolated(void **state) {
  (void)state;
  testdb_exec(db.checker, "ALTER TABLE fleetarc.positions"
                          " ADD CONSTRAINT test_refuse_666 CHECK (speed <> 666)");

  pgw_batch_t *b[2] = {mixed_batch("0-mixed"), mixed_batch("1-again")};
  pgw_run_batches(&r, db.conninfo, b, 2, after_first, &stats_after_first);

  /* The first: a success without the two refused rows. */
  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(r.res[0].rows_rejected, 2);
  assert_int_equal(r.res[0].positions_new, 8);
  assert_int_equal(r.res[0].positions_dup, 0);
  assert_int_equal(r.res[0].alarms_new, 1);
  assert_int_equal(r.res[0].device_states, 1);
  assert_int_equal(r.res[0].cursors_moved, 3);
  /* Counted once each (not once per attempt), by table. */
  for (int k = 0; k < PGW_KINDS; k++) {
    const char *n = pgw_kind_name(k);
    int want = strcmp(n, "positions") == 0 || strcmp(n, "device_state") == 0;
    assert_int_equal(stats_after_first.rows_rejected[k], want);
  }

  /* The second: everything already there, the same two rows refused again. */
  assert_int_equal(r.res[1].status, 0);
  assert_int_equal(r.res[1].rows_rejected, 2);
  assert_int_equal(r.res[1].positions_new, 0);
  assert_int_equal(r.res[1].positions_dup, 8);
  assert_int_equal(r.res[1].alarms_new, 0);

  /* Every good row once, the refused ones nowhere. */
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions"), 8);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(DISTINCT (imei, gpstime)) FROM fleetarc.positions"), 8);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'r2'"), 2);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE speed = 666"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.alarms"), 1);
  assert_string_equal(testdb_scalar(&db, "SELECT string_agg(imei, ',' ORDER BY imei)"
                                         " FROM fleetarc.device_state"), "r1");
  assert_string_equal(testdb_scalar(&db, "SELECT accstatus FROM fleetarc.device_state WHERE imei = 'r1'"),
                      "1");
  /* Every cursor moved, the refused rows' devices' included: their rows are kept. */
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.cursors WHERE stream = 'playback'"
                                         " AND cursor = to_timestamp(" "1767225720" ")"), 3);

  /* The refused rows, each once, with their error and the second refusal counted. */
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.rejected"), 2);
  assert_string_equal(testdb_scalar(&db, "SELECT concat_ws('|', imei, payload->>'speed', times)"
                                         " FROM fleetarc.rejected WHERE source = 'positions'"),
                      "r2|666|2");
  assert_non_null(strstr(testdb_scalar(&db, "SELECT error FROM fleetarc.rejected WHERE source = 'positions'"),
                         "test_refuse_666"));
  assert_non_null(strstr(testdb_scalar(&db, "SELECT error FROM fleetarc.rejected WHERE source = 'positions'"),
                         "SQLSTATE 23514"));
  assert_string_equal(testdb_scalar(&db, "SELECT concat_ws('|', imei, payload->>'accstatus', times)"
                                         " FROM fleetarc.rejected WHERE source = 'device_state'"),
                      "r3|40000|2");
  assert_non_null(strstr(testdb_scalar(&db, "SELECT error FROM fleetarc.rejected"
                                            " WHERE source = 'device_state'"), "SQLSTATE 22003"));

  testdb_exec(db.checker, "ALTER TABLE fleetarc.positions DROP CONSTRAINT test_refuse_666");
}

/* A full-size batch (10000 positions of 100 devices) with one refused row: the rest is
 * stored once; the time it took is printed (the row-by-row retry's cost), not asserted. */
static void test_large_batch(void **state) {
  (void)state;
  testdb_exec(db.checker, "ALTER TABLE fleetarc.positions"
                          " ADD CONSTRAINT test_refuse_777 CHECK (speed <> 777)");
  pgw_batch_t *b = pgw_batch_new("0-large");
  char imei[32];
  for (int d = 0; d < 100; d++) {
    snprintf(imei, sizeof imei, "L%03d", d);
    for (int i = 0; i < 100; i++)
      assert_int_equal(pgw_batch_add_position(b, imei, T0 + 86400 + 10 * i, 1.0, 2.0,
                                              d == 57 && i == 42 ? 777 : 5, 0), 0);
    assert_int_equal(pgw_batch_move_cursor(b, imei, STREAM_PLAYBACK, T0 + 86400 + 990), 0);
  }
  uint64_t t0 = uv_hrtime();
  pgw_run_batches(&r, db.conninfo, &b, 1, NULL, NULL);
  fprintf(stderr, "large batch with one refused row: %.3f s\n", (double)(uv_hrtime() - t0) / 1e9);
  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(r.res[0].rows_rejected, 1);
  assert_int_equal(r.res[0].positions_new, 9999);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei LIKE 'L%'"), 9999);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.cursors WHERE imei LIKE 'L%'"), 100);
  assert_string_equal(testdb_scalar(&db, "SELECT imei FROM fleetarc.rejected WHERE payload->>'speed' = '777'"),
                      "L057");
  testdb_exec(db.checker, "ALTER TABLE fleetarc.positions DROP CONSTRAINT test_refuse_777");
}

int main(void) {
  if (testdb_setup(&db, "fleetarc_test_db_pgw_rejected") != 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refused_rows_isolated),
    cmocka_unit_test(test_large_batch),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  testdb_teardown(&db);
  return rc;
}
