/* Migrations against a real PostgreSQL: a fresh database is migrated, a second run applies
 * nothing, the tables, ensure_partitions() and the 44 alarm types are there, a tampered
 * checksum is refused, and `fleetarc migrate` exits 0/1/2 as documented. */
#include <errno.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "db/migrate.h"
#include "harness.h"
#include "testdb.h"

static char conninfo[512];

static PGconn *connect_db(void) {
  PGconn *c = PQconnectdb(conninfo);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  return c;
}

/* The one value of the one row `sql` answers (static buffer). */
static const char *scalar(PGconn *c, const char *sql) {
  static char out[256];
  return testdb_value(c, sql, out, sizeof out);
}

static void test_migrate_twice(void **state) {
  (void)state;
  size_t applied = 99;
  char err[512];
  assert_true(db_migrate_known() >= 1);
  int rc = db_migrate(conninfo, &applied, err, sizeof err);
  if (rc) fprintf(stderr, "db_migrate: %s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(applied, db_migrate_known());

  applied = 99;
  assert_int_equal(db_migrate(conninfo, &applied, err, sizeof err), 0);
  assert_int_equal(applied, 0);

  PGconn *c = connect_db();
  const char *tables[] = {"positions", "alarms", "alarm_types", "devices", "device_state",
                          "daily_mileage", "cursors", "accounts", "schema_migrations"};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT to_regclass('fleetarc.%s') IS NOT NULL", tables[i]);
    if (strcmp(scalar(c, sql), "t") != 0) fail_msg("table fleetarc.%s missing", tables[i]);
  }
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) = %zu FROM fleetarc.schema_migrations",
           db_migrate_known());
  assert_string_equal(scalar(c, sql), "t");
  assert_string_equal(scalar(c, "SELECT length(checksum) FROM fleetarc.schema_migrations "
                                "WHERE version = 1"), "64");
  /* positions and alarms are partitioned by range on gpstime. */
  assert_string_equal(scalar(c, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                                "ON c.oid = p.partrelid WHERE c.relnamespace = "
                                "'fleetarc'::regnamespace AND p.partstrat = 'r'"), "2");
  assert_string_equal(scalar(c, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'fleetarc' "
                                "AND indexname IN ('alarms_imei_systemtime_idx',"
                                "'alarms_imei_gpstime_idx')"), "2");
  PQfinish(c);
}

static void test_alarm_types(void **state) {
  (void)state;
  PGconn *c = connect_db();
  assert_string_equal(scalar(c, "SELECT count(*) FROM fleetarc.alarm_types"), "44");
  assert_string_equal(scalar(c, "SELECT min(code) || '-' || max(code) FROM fleetarc.alarm_types"),
                      "1-44");
  assert_string_equal(scalar(c, "SELECT name FROM fleetarc.alarm_types WHERE code = 1"), "sosAlarm");
  assert_string_equal(scalar(c, "SELECT name FROM fleetarc.alarm_types WHERE code = 9"), "engineOn");
  assert_string_equal(scalar(c, "SELECT name FROM fleetarc.alarm_types WHERE code = 26"),
                      "dooropenAlarm");
  assert_string_equal(scalar(c, "SELECT name FROM fleetarc.alarm_types WHERE code = 42"),
                      "lackBreakFatigueDrivingAlarm");
  assert_string_equal(scalar(c, "SELECT name FROM fleetarc.alarm_types WHERE code = 44"),
                      "lowExternalBatteryAlarm");
  PQfinish(c);
}

static void test_ensure_partitions(void **state) {
  (void)state;
  PGconn *c = connect_db();
  testdb_exec(c, "SET TIME ZONE 'America/New_York'"); /* bounds must be UTC months regardless */
  assert_string_equal(scalar(c, "SELECT fleetarc.ensure_partitions('2001-01-15Z', '2001-03-02Z')"),
                      "6");
  assert_string_equal(scalar(c, "SELECT fleetarc.ensure_partitions('2001-01-01Z', '2001-03-31Z')"),
                      "0");
  testdb_exec(c, "INSERT INTO fleetarc.positions VALUES "
             "('0123', '2001-01-31 23:59:59Z', 1, 2, 3, 4), ('0123', '2001-02-01 00:00:00Z', 1, 2, 3, 4)");
  assert_string_equal(scalar(c, "SELECT string_agg(tableoid::regclass::text, ',' ORDER BY gpstime) "
                                "FROM fleetarc.positions WHERE imei = '0123'"),
                      "fleetarc.positions_200101,fleetarc.positions_200102");
  assert_string_equal(scalar(c, "SELECT to_regclass('fleetarc.alarms_200103') IS NOT NULL"), "t");
  PQfinish(c);
}

/* Two sessions asking for the same month: the second waits on the advisory lock, then
 * finds the partitions made and creates none (no "already exists" error). */
static void test_ensure_partitions_concurrent(void **state) {
  (void)state;
  PGconn *a = connect_db(), *b = connect_db();
  testdb_exec(a, "BEGIN");
  assert_string_equal(scalar(a, "SELECT fleetarc.ensure_partitions('2002-05-10Z', '2002-05-10Z')"),
                      "2");
  assert_int_equal(PQsendQuery(b, "SELECT fleetarc.ensure_partitions('2002-05-20Z', '2002-05-20Z')"), 1);
  /* b is blocked on the lock: give it time to get there, then check it has not answered. */
  struct timespec ts = {0, 300 * 1000 * 1000};
  nanosleep(&ts, NULL);
  assert_int_equal(PQconsumeInput(b), 1);
  assert_int_equal(PQisBusy(b), 1);
  testdb_exec(a, "COMMIT");
  PGresult *r = PQgetResult(b);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_string_equal(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  assert_null(PQgetResult(b));
  PQfinish(a);
  PQfinish(b);
}

static void test_checksum_changed(void **state) {
  (void)state;
  PGconn *c = connect_db();
  char original[128], sql[256];
  snprintf(original, sizeof original, "%s",
           scalar(c, "SELECT checksum FROM fleetarc.schema_migrations WHERE version = 1"));
  testdb_exec(c, "UPDATE fleetarc.schema_migrations SET checksum = repeat('0', 64) WHERE version = 1");
  size_t applied = 99;
  char err[512] = "";
  assert_int_equal(db_migrate(conninfo, &applied, err, sizeof err), -EINVAL);
  assert_int_equal(applied, 0);
  assert_non_null(strstr(err, "001_schema.sql"));
  assert_non_null(strstr(err, "changed"));
  snprintf(sql, sizeof sql,
           "UPDATE fleetarc.schema_migrations SET checksum = '%s' WHERE version = 1", original);
  testdb_exec(c, sql);
  assert_int_equal(db_migrate(conninfo, &applied, err, sizeof err), 0);
  assert_int_equal(applied, 0);
  PQfinish(c);
}

static void test_unknown_version(void **state) {
  (void)state;
  PGconn *c = connect_db();
  testdb_exec(c, "INSERT INTO fleetarc.schema_migrations VALUES (999, '999_future.sql', 'x', now())");
  size_t applied = 99;
  char err[512] = "";
  assert_int_equal(db_migrate(conninfo, &applied, err, sizeof err), -EINVAL);
  assert_non_null(strstr(err, "999"));
  testdb_exec(c, "DELETE FROM fleetarc.schema_migrations WHERE version = 999");
  PQfinish(c);
}

/* Runs `fleetarc ARGS`, returns its exit status and its stdout in out. */
static int run_cli(const char *args, char *out, size_t outlen) {
  const char *bin = getenv("FLEETARC_BIN");
  assert_non_null(bin);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", bin, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, outlen - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state) {
  (void)state;
  char out[512], args[700];
  PGconn *c = connect_db();
  testdb_exec(c, "DROP SCHEMA fleetarc CASCADE");
  PQfinish(c);
  snprintf(args, sizeof args, "migrate --database '%s'", conninfo);
  assert_int_equal(run_cli(args, out, sizeof out), 0);
  char want[64];
  snprintf(want, sizeof want, "applied %zu migration", db_migrate_known());
  assert_non_null(strstr(out, want));
  assert_int_equal(run_cli(args, out, sizeof out), 0);
  assert_string_equal(out, "schema up to date\n");
  assert_int_equal(run_cli("migrate --no-such-option", out, sizeof out), 2);
  assert_int_equal(run_cli("migrate --database", out, sizeof out), 2);
  assert_int_equal(run_cli("migrate --database 'dbname=fleetarc_no_such_db_x'", out, sizeof out), 1);
  assert_int_equal(run_cli("migrate --help", out, sizeof out), 0);
  assert_non_null(strstr(out, "--database"));
}

int main(void) {
  snprintf(conninfo, sizeof conninfo, "%s", harness_pg_fresh_db("fleetarc_test_db_migrate"));
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_migrate_twice),
    cmocka_unit_test(test_alarm_types),
    cmocka_unit_test(test_ensure_partitions),
    cmocka_unit_test(test_ensure_partitions_concurrent),
    cmocka_unit_test(test_checksum_changed),
    cmocka_unit_test(test_unknown_version),
    cmocka_unit_test(test_cli),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
