/* Blocking connections to PostgreSQL for the commands and the startup reads (migrate,
 * check, report, cursors): one place that turns a conninfo into a connected PGconn.
 * The batch writer (pgw.c) connects non-blocking on the loop and does not use this. */
#ifndef FLEETARC_DB_CONN_H
#define FLEETARC_DB_CONN_H

#include <libpq-fe.h>
#include <stddef.h>

/* Connects to conninfo (a key=value string or a postgresql:// URI; NULL or "": the PG*
 * environment) as application `appname`, with a 10 s connect_timeout unless conninfo
 * sets its own. Returns the connection (PQfinish it), or NULL with "cannot connect to
 * PostgreSQL: ..." (one line, no password: libpq does not print it) in errbuf. */
PGconn *db_connect(const char *conninfo, const char *appname, char *errbuf, size_t errlen);

/* One startup read: connects (db_connect), runs sql (no parameters) and calls row(arg,
 * res, i) for each row until it returns non-zero, which is then returned. -EIO with
 * "reading WHAT: ..." in errbuf (one line) when the connection or the query fails. */
typedef int (*db_row_fn)(void *arg, const PGresult *res, int row);
int db_read_rows(const char *conninfo, const char *sql, const char *what, db_row_fn row,
                 void *arg, char *errbuf, size_t errlen);

/* conninfo (key=value or URI) parsed by libpq itself (PQconninfoParse), then written
 * back as key='value' pairs with the value of every keyword that names a password
 * (password, sslpassword...) replaced by ***: what libpq reads is what is masked, a
 * percent-encoded "pass%77ord" in a URI included. A conninfo libpq cannot parse is
 * not shown at all. malloc'd; NULL on ENOMEM. */
char *db_conninfo_masked(const char *conninfo);

/* 1 when conninfo (as libpq parses it) carries a password, 0 when not, -EINVAL when
 * it does not parse, -ENOMEM. For --database: a password belongs in PGPASSWORD or
 * PGPASSFILE, never on a command line other users can read in /proc. */
int db_conninfo_has_password(const char *conninfo) __attribute__((warn_unused_result));

#endif
