/* Database fixtures of the integration tests: a fresh, migrated database with a checker
 * session (a second connection: sees only committed rows), and one-value queries that
 * fail the running cmocka test on an error. The test owns its testdb_t. */
#ifndef FLEETARC_TESTS_TESTDB_H
#define FLEETARC_TESTS_TESTDB_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct testdb {
  char conninfo[512];
  PGconn *checker;  /* a second session: sees only committed rows */
  char value[512];  /* the last testdb_scalar answer */
} testdb_t;

/* A fresh database `name` (harness_pg_fresh_db: exits 77 without PostgreSQL), migrated,
 * and the checker connected to it. 0 or -1 (printed). */
int testdb_setup(testdb_t *db, const char *name);
/* The checker connected to an existing database. 0 or -1 (printed). */
int testdb_connect(testdb_t *db, const char *conninfo);
/* Closes the checker (a second call, or one after a failed setup, is a no-op). */
void testdb_teardown(testdb_t *db);

/* The one value of the one row `sql` answers on the checker ("NULL" for NULL), valid
 * until the next call on db; an error or another row count fails the test. */
const char *testdb_scalar(testdb_t *db, const char *sql);
/* testdb_scalar as a number. */
long long testdb_scalar_ll(testdb_t *db, const char *sql);

/* The same on any connection, into out (size bytes); returns out. */
const char *testdb_value(PGconn *c, const char *sql, char *out, size_t size);
/* Runs a command (or a query whose rows do not matter) on c; an error fails the test. */
void testdb_exec(PGconn *c, const char *sql);

#endif
