/* Shared by the pgw integration tests: a fresh, migrated database, a checker session
 * (a second connection: sees only committed rows) and scalar queries on it. Include after
 * cmocka.h and libpq-fe.h; call pgw_test_setup() first in main and pgw_test_teardown()
 * last. */
#ifndef FLEETARC_TESTS_PGW_TESTDB_H
#define FLEETARC_TESTS_PGW_TESTDB_H

#include "db/migrate.h"
#include "harness.h"

static char conninfo[512];
static PGconn *checker; /* a second session: sees only committed rows */

static const char *scalar(const char *sql) {
  static char out[512];
  PGresult *r = PQexec(checker, sql);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) fprintf(stderr, "%s: %s", sql, PQerrorMessage(checker));
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_int_equal(PQntuples(r), 1);
  snprintf(out, sizeof out, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
  PQclear(r);
  return out;
}

static long long scalar_ll(const char *sql) { return atoll(scalar(sql)); }

/* A fresh database `name`, migrated, and the checker connected to it. 0 or -1 (printed). */
static int pgw_test_setup(const char *name) {
  snprintf(conninfo, sizeof conninfo, "%s", harness_pg_fresh_db(name));
  size_t applied;
  char err[512];
  if (db_migrate(conninfo, &applied, err, sizeof err) != 0) {
    fprintf(stderr, "migrate: %s\n", err);
    return -1;
  }
  checker = PQconnectdb(conninfo);
  if (PQstatus(checker) != CONNECTION_OK) {
    fprintf(stderr, "checker: %s", PQerrorMessage(checker));
    return -1;
  }
  return 0;
}

static void pgw_test_teardown(void) { PQfinish(checker); }

#endif
