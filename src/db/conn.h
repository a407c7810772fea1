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

#endif
