/* Startup read of the open gaps (db/gaps.h). */
#include "db/gaps.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/conn.h"

typedef struct {
  db_gap_cb cb;
  void *arg;
} gap_read_t;

static int gap_row(void *arg, const PGresult *res, int i) {
  const gap_read_t *r = arg;
  return r->cb(r->arg, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10),
               strtoll(PQgetvalue(res, i, 2), NULL, 10), strtoll(PQgetvalue(res, i, 3), NULL, 10),
               strtoll(PQgetvalue(res, i, 4), NULL, 10), strtoll(PQgetvalue(res, i, 5), NULL, 10),
               atoi(PQgetvalue(res, i, 6)), strtoll(PQgetvalue(res, i, 7), NULL, 10));
}

int db_load_gaps(const char *conninfo, db_gap_cb cb, void *arg, char *errbuf, size_t errlen) {
  gap_read_t r = {cb, arg};
  return db_read_rows(conninfo,
                      "SELECT imei, extract(epoch FROM from_time)::bigint, extract(epoch FROM to_time)::bigint,"
                      " extract(epoch FROM detected_at)::bigint, extract(epoch FROM next_at)::bigint,"
                      " coalesce(extract(epoch FROM last_asked)::bigint, 0), attempts, recovered"
                      " FROM fleetarc.gaps WHERE healed_at IS NULL AND stream = 'playback'"
                      " ORDER BY next_at, imei",
                      "fleetarc.gaps", gap_row, &r, errbuf, errlen);
}
