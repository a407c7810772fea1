/* pgw's lease fence (issue 19, 096_leases.sql): a batch fenced by (holder, account,
 * generation) commits while that lease is held and unexpired, and is rolled back as a
 * whole (no positions, no coverage) when it was taken over (another generation), has
 * expired, or belongs to another holder; an unfenced batch is not affected. */
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

static pgw_batch_t *fenced(const char *name, const char *imei, int64_t t, const char *holder,
                           int64_t gen) {
  pgw_batch_t *b = pgw_batch_new(name);
  assert_non_null(b);
  assert_int_equal(pgw_batch_add_position(b, imei, t, 10, 20, 1, 2), 0);
  assert_int_equal(pgw_batch_add_coverage(b, imei, STREAM_PLAYBACK, t - 10, t), 0);
  if (holder) assert_int_equal(pgw_batch_add_fence(b, holder, "acme", gen), 0);
  return b;
}

static void test_fence(void **state) {
  (void)state;
  /* acme held by i1 at generation 1 (taken through the SQL API, as the archiver does). */
  assert_string_equal(testdb_scalar(&db, "SELECT fleetarc.lease_take('acme', 'i1', 30)"), "1");
  pgw_run_t r;
  pgw_batch_t *b[4] = {
    fenced("0 held", "f1", 1700000000, "i1", 1),
    fenced("1 other generation", "f2", 1700000000, "i1", 2),
    fenced("2 other holder", "f3", 1700000000, "i2", 1),
    fenced("3 unfenced", "f4", 1700000000, NULL, 0),
  };
  pgw_run_batches(&r, db.conninfo, b, 4, NULL, NULL);
  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(r.res[1].status, -EIO);
  assert_non_null(strstr(r.err[1], "no longer held"));
  assert_int_equal(r.res[2].status, -EIO);
  assert_int_equal(r.res[3].status, 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'f1'"), 1);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei IN ('f2', 'f3')"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.coverage WHERE imei IN ('f2', 'f3')"), 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei = 'f4'"), 1);

  /* Expired: renewal fails, the fence fails; another instance takes it (generation 2). */
  testdb_scalar(&db, "UPDATE fleetarc.leases SET expires_at = now() - interval '1 second' RETURNING 1");
  assert_string_equal(testdb_scalar(&db, "SELECT fleetarc.lease_renew('acme', 'i1', 1, 30)"), "f");
  pgw_batch_t *c[2] = {fenced("0 expired", "f5", 1700000000, "i1", 1), NULL};
  pgw_run_batches(&r, db.conninfo, c, 1, NULL, NULL);
  assert_int_equal(r.res[0].status, -EIO);
  assert_string_equal(testdb_scalar(&db, "SELECT fleetarc.lease_take('acme', 'i2', 30)"), "2");
  assert_string_equal(testdb_scalar(&db, "SELECT fleetarc.lease_take('acme', 'i1', 30)"), "NULL"); /* held */
  c[0] = fenced("0 new holder", "f6", 1700000000, "i2", 2);
  pgw_run_batches(&r, db.conninfo, c, 1, NULL, NULL);
  assert_int_equal(r.res[0].status, 0);
  assert_int_equal(testdb_scalar_ll(&db, "SELECT count(*) FROM fleetarc.positions WHERE imei IN ('f5', 'f6')"), 1);
}

int main(void) {
  if (testdb_setup(&db, "fleetarc_test_db_pgw_fence") != 0) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_fence)};
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  testdb_teardown(&db);
  return rc;
}
