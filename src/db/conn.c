/* db_connect: PQconnectdbParams with expand_dbname, so that the conninfo's own settings
 * (written after our defaults) win. */
#include "db/conn.h"

#include <stdio.h>
#include <string.h>

PGconn *db_connect(const char *conninfo, const char *appname, char *errbuf, size_t errlen) {
  const char *keys[4] = {"fallback_application_name", "connect_timeout", NULL, NULL};
  const char *vals[4] = {appname, "10", NULL, NULL};
  if (conninfo && *conninfo) {
    keys[2] = "dbname";
    vals[2] = conninfo;
  }
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  if (conn && PQstatus(conn) == CONNECTION_OK) return conn;
  if (errbuf && errlen) {
    const char *why = conn ? PQerrorMessage(conn) : "out of memory";
    int n = snprintf(errbuf, errlen, "cannot connect to PostgreSQL: %s", why);
    if (n > 0) errbuf[strcspn(errbuf, "\n")] = '\0';
  }
  PQfinish(conn);
  return NULL;
}
