/* Startup read of the open gaps (db/gaps.h). */
#include "db/gaps.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/conn.h"

int db_load_gaps(const char *conninfo, db_gap_cb cb, void *arg, char *errbuf, size_t errlen) {
  int rc = 0;
  PGresult *res = NULL;
  PGconn *conn = db_connect(conninfo, "fleetarc", errbuf, errlen);
  if (!conn) {
    rc = -EIO;
    goto out;
  }
  res = PQexec(conn,
               "SELECT imei, extract(epoch FROM from_time)::bigint, extract(epoch FROM to_time)::bigint,"
               " extract(epoch FROM detected_at)::bigint, extract(epoch FROM next_at)::bigint,"
               " coalesce(extract(epoch FROM last_asked)::bigint, 0), attempts, recovered"
               " FROM fleetarc.gaps WHERE healed_at IS NULL AND stream = 'playback'"
               " ORDER BY next_at, imei");
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    if (errbuf) snprintf(errbuf, errlen, "reading fleetarc.gaps: %s", PQerrorMessage(conn));
    rc = -EIO;
    goto out;
  }
  for (int i = 0; i < PQntuples(res) && rc == 0; i++)
    rc = cb(arg, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10),
            strtoll(PQgetvalue(res, i, 2), NULL, 10), strtoll(PQgetvalue(res, i, 3), NULL, 10),
            strtoll(PQgetvalue(res, i, 4), NULL, 10), strtoll(PQgetvalue(res, i, 5), NULL, 10),
            atoi(PQgetvalue(res, i, 6)), strtoll(PQgetvalue(res, i, 7), NULL, 10));
out:
  if (errbuf && rc == -EIO) errbuf[strcspn(errbuf, "\n")] = '\0';
  PQclear(res);
  PQfinish(conn);
  return rc;
}
