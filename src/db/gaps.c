/* Startup reads of gap healing (db/gaps.h): the open gaps, the last stored positions. */
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

typedef struct {
  db_last_position_cb cb;
  void *arg;
} last_read_t;

static int last_row(void *arg, const PGresult *res, int i) {
  const last_read_t *r = arg;
  return r->cb(r->arg, PQgetvalue(res, i, 0), strtoll(PQgetvalue(res, i, 1), NULL, 10),
               atoi(PQgetvalue(res, i, 2)));
}

int db_load_last_positions(const char *conninfo, db_last_position_cb cb, void *arg, char *errbuf,
                           size_t errlen) {
  last_read_t r = {cb, arg};
  /* Where `run`'s pages resume (archiver: stream_start_of): after the device's latest
   * covered interval of playback, or the one before it when the latest is a single
   * second (a track poll's point stored ahead of the pages). The position wanted is the
   * last stored at or before that interval's end: one backward index probe per device. */
  return db_read_rows(conninfo,
                      "WITH iv AS (SELECT imei, \"from\", \"to\","
                      "   row_number() OVER (PARTITION BY imei ORDER BY \"from\" DESC) AS rn,"
                      "   count(*) OVER (PARTITION BY imei) AS n"
                      "   FROM fleetarc.coverage WHERE stream = 'playback'),"
                      " e AS (SELECT DISTINCT ON (imei) imei, \"to\" FROM iv"
                      "   WHERE NOT (rn = 1 AND n >= 2 AND \"from\" = \"to\") ORDER BY imei, rn)"
                      " SELECT e.imei, extract(epoch FROM p.gpstime)::bigint, p.speed FROM e"
                      " CROSS JOIN LATERAL (SELECT gpstime, speed FROM fleetarc.positions p"
                      "   WHERE p.imei = e.imei AND p.gpstime <= e.\"to\""
                      "   ORDER BY p.gpstime DESC LIMIT 1) p",
                      "the last stored positions", last_row, &r, errbuf, errlen);
}
