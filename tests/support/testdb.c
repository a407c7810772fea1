/* Database fixtures of the integration tests; see testdb.h. Failures are cmocka
 * assertions, so these run inside a cmocka test (or its group setup). */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "db/migrate.h"
#include "harness.h"

int testdb_setup(testdb_t *db, const char *name) {
  const char *conninfo = harness_pg_fresh_db(name);
  size_t applied;
  char err[512];
  if (db_migrate(conninfo, &applied, err, sizeof err) != 0) {
    fprintf(stderr, "migrate: %s\n", err);
    return -1;
  }
  return testdb_connect(db, conninfo);
}

int testdb_connect(testdb_t *db, const char *conninfo) {
  snprintf(db->conninfo, sizeof db->conninfo, "%s", conninfo);
  db->checker = PQconnectdb(db->conninfo);
  if (PQstatus(db->checker) != CONNECTION_OK) {
    fprintf(stderr, "checker: %s", PQerrorMessage(db->checker));
    return -1;
  }
  return 0;
}

void testdb_teardown(testdb_t *db) {
  PQfinish(db->checker);
  db->checker = NULL;
}

const char *testdb_value(PGconn *c, const char *sql, char *out, size_t size) {
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_int_equal(PQntuples(r), 1);
  snprintf(out, size, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
  PQclear(r);
  return out;
}

void testdb_exec(PGconn *c, const char *sql) {
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
  assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
  PQclear(r);
}

const char *testdb_scalar(testdb_t *db, const char *sql) {
  return testdb_value(db->checker, sql, db->value, sizeof db->value);
}

long long testdb_scalar_ll(testdb_t *db, const char *sql) { return atoll(testdb_scalar(db, sql)); }
