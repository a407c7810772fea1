/* `fleetarc migrate`'s engine: blocking libpq (a one-shot command), one transaction, an
 * advisory lock so that two migrating processes cannot interleave. See migrate.h. */
#include "db/migrate.h"

#include "db/conn.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/migrations_embedded.h"
#include "util/log.h"

/* Two-int advisory key: (0x666c6565 'flee', 0) for migrate; ensure_partitions uses
 * (same, 1). Both forms live in their own key space, apart from one-bigint keys. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_xact_lock(1718379877, 0)"

#define CHECKSUM_LEN 64 /* sha256, hex */

typedef struct applied_row {
  int version;
  char name[128];
  char checksum[CHECKSUM_LEN + 1];
} applied_row_t;

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *errbuf, size_t errlen, const char *fmt, ...) {
  if (!errbuf || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, errlen, fmt, ap);
  va_end(ap);
  /* libpq messages end in "\n" and may hold a DETAIL line: keep one line. */
  errbuf[strcspn(errbuf, "\n")] = '\0';
}

static void cb_notice(void *arg, const char *message) {
  (void)arg;
  log_debug("migrate: server: %.*s", (int)strcspn(message, "\n"), message);
}

/* Runs one command; 0 or -EIO with the server's reason in errbuf. */
static int exec_ok(PGconn *conn, const char *sql, const char *what, char *errbuf, size_t errlen) {
  PGresult *res = PQexec(conn, sql);
  ExecStatusType st = PQresultStatus(res);
  int rc = 0;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    set_error(errbuf, errlen, "%s: %s", what, PQerrorMessage(conn));
    rc = -EIO;
  }
  PQclear(res);
  return rc;
}

/* The checksum is computed by the server (sha256 of the file's text): no digest code of
 * our own, and the same function checks what was recorded. */
static int checksum_of(PGconn *conn, const db_migration_file_t *m, char out[CHECKSUM_LEN + 1],
                       char *errbuf, size_t errlen) {
  const char *params[1] = {m->sql};
  PGresult *res = PQexecParams(conn, "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1,
                               NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
      strlen(PQgetvalue(res, 0, 0)) != CHECKSUM_LEN) {
    set_error(errbuf, errlen, "checksum of %s: %s", m->name, PQerrorMessage(conn));
    rc = -EIO;
  } else {
    memcpy(out, PQgetvalue(res, 0, 0), CHECKSUM_LEN + 1);
  }
  PQclear(res);
  return rc;
}

static int read_applied(PGconn *conn, applied_row_t **rows, size_t *n, char *errbuf,
                        size_t errlen) {
  PGresult *res = PQexec(conn,
                         "SELECT version, name, checksum FROM fleetarc.schema_migrations "
                         "ORDER BY version");
  int rc = 0;
  *rows = NULL;
  *n = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    set_error(errbuf, errlen, "reading schema_migrations: %s", PQerrorMessage(conn));
    rc = -EIO;
    goto out;
  }
  int count = PQntuples(res);
  if (count > 0) {
    *rows = calloc((size_t)count, sizeof **rows);
    if (!*rows) {
      rc = -ENOMEM;
      set_error(errbuf, errlen, "out of memory");
      goto out;
    }
  }
  for (int i = 0; i < count; i++) {
    applied_row_t *r = &(*rows)[i];
    r->version = atoi(PQgetvalue(res, i, 0));
    snprintf(r->name, sizeof r->name, "%s", PQgetvalue(res, i, 1));
    snprintf(r->checksum, sizeof r->checksum, "%s", PQgetvalue(res, i, 2));
  }
  *n = (size_t)count;
out:
  PQclear(res);
  return rc;
}

/* Counts the recorded versions this binary knows. A version recorded but unknown here
 * means the database was migrated by a newer fleetarc, whose schema this binary may
 * misread: -EINVAL with the first such version named in errbuf (the count still covers
 * every row). */
static int count_known(const applied_row_t *rows, size_t nrows, size_t *known_out,
                       char *errbuf, size_t errlen) {
  int rc = 0;
  size_t known_rows = 0;
  for (size_t i = 0; i < nrows; i++) {
    int known = 0;
    for (size_t k = 0; k < db_migration_files_count; k++)
      if (db_migration_files[k].version == rows[i].version) known = 1;
    if (!known && rc == 0) {
      set_error(errbuf, errlen,
                "the database has migration %d (%s) that this fleetarc does not know: "
                "it was migrated by a newer version",
                rows[i].version, rows[i].name);
      rc = -EINVAL;
    }
    known_rows += (size_t)known;
  }
  if (known_out) *known_out = known_rows;
  return rc;
}


static int record_applied(PGconn *conn, const db_migration_file_t *m, const char *checksum,
                          char *errbuf, size_t errlen) {
  char version[16];
  snprintf(version, sizeof version, "%d", m->version);
  const char *params[3] = {version, m->name, checksum};
  PGresult *res = PQexecParams(conn,
                               "INSERT INTO fleetarc.schema_migrations "
                               "(version, name, checksum, applied_at) VALUES ($1, $2, $3, now())",
                               3, NULL, params, NULL, NULL, 0);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    set_error(errbuf, errlen, "recording %s: %s", m->name, PQerrorMessage(conn));
    rc = -EIO;
  }
  PQclear(res);
  return rc;
}

size_t db_migrate_known(void) { return db_migration_files_count; }

int db_migrate(const char *conninfo, size_t *applied, char *errbuf, size_t errlen) {
  int rc = 0;
  PGconn *conn = NULL;
  applied_row_t *rows = NULL;
  size_t nrows = 0;
  *applied = 0;
  if (errbuf && errlen) errbuf[0] = '\0';

  conn = db_connect(conninfo, "fleetarc-migrate", errbuf, errlen);
  if (!conn) {
    rc = -EIO;
    goto out;
  }
  PQsetNoticeProcessor(conn, cb_notice, NULL);

  if ((rc = exec_ok(conn, "BEGIN", "BEGIN", errbuf, errlen)) < 0) goto out;
  if ((rc = exec_ok(conn, MIGRATE_LOCK_SQL, "advisory lock", errbuf, errlen)) < 0) goto out;
  if ((rc = exec_ok(conn, "SET LOCAL client_min_messages = warning", "SET", errbuf, errlen)) < 0)
    goto out;
  if ((rc = exec_ok(conn, "CREATE SCHEMA IF NOT EXISTS fleetarc", "creating schema fleetarc",
                    errbuf, errlen)) < 0)
    goto out;
  if ((rc = exec_ok(conn,
                    "CREATE TABLE IF NOT EXISTS fleetarc.schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " checksum text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    "creating schema_migrations", errbuf, errlen)) < 0)
    goto out;
  if ((rc = read_applied(conn, &rows, &nrows, errbuf, errlen)) < 0) goto out;

  /* Refuse a database migrated by a newer fleetarc rather than guess. */
  if ((rc = count_known(rows, nrows, NULL, errbuf, errlen)) < 0) goto out;

  for (size_t k = 0; k < db_migration_files_count; k++) {
    const db_migration_file_t *m = &db_migration_files[k];
    char checksum[CHECKSUM_LEN + 1];
    if ((rc = checksum_of(conn, m, checksum, errbuf, errlen)) < 0) goto out;
    const applied_row_t *done = NULL;
    for (size_t i = 0; i < nrows; i++)
      if (rows[i].version == m->version) done = &rows[i];
    if (done) {
      if (strcmp(done->checksum, checksum) != 0) {
        set_error(errbuf, errlen,
                  "migration %s was changed after it was applied (recorded checksum %.12s..., "
                  "now %.12s...): add a new migration instead of editing an applied one",
                  m->name, done->checksum, checksum);
        rc = -EINVAL;
        goto out;
      }
      continue;
    }
    log_info("migrate: applying %s", m->name);
    /* A file is several statements: the simple-query protocol runs them all, inside our
     * transaction, and stops at the first error. */
    if ((rc = exec_ok(conn, m->sql, m->name, errbuf, errlen)) < 0) goto out;
    if ((rc = record_applied(conn, m, checksum, errbuf, errlen)) < 0) goto out;
    (*applied)++;
  }

  PGresult *res = PQexec(conn, "COMMIT");
  /* A COMMIT of a failed transaction answers COMMAND_OK with the tag ROLLBACK. */
  if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
    set_error(errbuf, errlen, "COMMIT: %s", PQerrorMessage(conn));
    rc = -EIO;
  }
  PQclear(res);

out:
  if (rc < 0) *applied = 0;
  free(rows);
  PQfinish(conn); /* rolls back an open transaction */
  return rc;
}

int db_check(const char *conninfo, int *applied_version, int *latest_embedded, size_t *pending,
             char *errbuf, size_t errlen) {
  int rc = 0;
  PGconn *conn = NULL;
  PGresult *res = NULL;
  applied_row_t *rows = NULL;
  size_t nrows = 0;
  *applied_version = 0;
  *pending = db_migration_files_count;
  *latest_embedded = 0;
  for (size_t k = 0; k < db_migration_files_count; k++)
    if (db_migration_files[k].version > *latest_embedded)
      *latest_embedded = db_migration_files[k].version;
  if (errbuf && errlen) errbuf[0] = '\0';

  conn = db_connect(conninfo, "fleetarc-check", errbuf, errlen);
  if (!conn) {
    rc = -EIO;
    goto out;
  }
  PQsetNoticeProcessor(conn, cb_notice, NULL);
  res = PQexec(conn, "SELECT to_regclass('fleetarc.schema_migrations') IS NOT NULL");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    set_error(errbuf, errlen, "reading the catalog: %s", PQerrorMessage(conn));
    rc = -EIO;
    goto out;
  }
  if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) goto out; /* never migrated: all pending */
  if ((rc = read_applied(conn, &rows, &nrows, errbuf, errlen)) < 0) goto out;
  size_t recorded_known = 0;
  rc = count_known(rows, nrows, &recorded_known, errbuf, errlen);
  for (size_t i = 0; i < nrows; i++)
    if (rows[i].version > *applied_version) *applied_version = rows[i].version;
  *pending = db_migration_files_count - recorded_known;

out:
  free(rows);
  PQclear(res);
  PQfinish(conn);
  return rc;
}
