/* The writer's SQL text (pgw_int.h): the staging tables created per connection, the merge
 * of each kind of rows from staging into its table, the lease fence, and the DDL of month
 * partitions. Invariant: every statement here is fixed text, except the fence's literals
 * (escaped by libpq) and the partitions' bounds (numbers). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/pgw_int.h"
#include "util/grow.h"

const char *const pgw__kind_table[K_COUNT] = {
  "pgw_positions", "pgw_alarms", "pgw_device_state", "pgw_devices", "pgw_mileage", "pgw_removed",
  "pgw_cursors", "pgw_coverage", "pgw_gaps",
};

/* The table each kind goes to: fleetarc.rejected's source. */
const char *const pgw__kind_source[K_COUNT] = {
  "positions", "alarms", "device_state", "devices", "daily_mileage", "removed", "cursors",
  "coverage_intervals", "gaps",
};

const char *pgw_kind_name(int kind) {
  return kind >= 0 && kind < K_COUNT ? pgw__kind_source[kind] : "?";
}


/* Created once per connection. A batch's merge ends with a TRUNCATE of the staging tables
 * it filled (before its COMMIT; an attempt rolled back takes its staged rows with it), so
 * a batch never sees another's rows. Not ON COMMIT DELETE ROWS: that truncates every one
 * of them, their TOAST tables and indexes, at each COMMIT that touched any temporary
 * table, about 5 ms a batch against 1 ms. Times are staged as UNIX seconds and converted in
 * the merge; seq orders upserts of one key within a batch (the last one wins). Every
 * kind travels as binary COPY, whose fields must have their column's exact width: the
 * staged integers are as wide as the C values (int, int64_t), and a status out of the
 * smallint range fails in the merge's assignment cast (SQLSTATE 22003), as it failed in
 * the text COPY before: that row is then isolated into fleetarc.rejected. */
const char pgw__setup_sql[] =
  "SET client_min_messages = warning;"
  "CREATE TEMP TABLE pgw_positions (imei text, gpstime timestamptz, longitude float8,"
  " latitude float8, speed int, course int);"
  "CREATE TEMP TABLE pgw_alarms (imei text, alarm_type int, gpstime timestamptz,"
  " systemtime timestamptz, longitude float8, latitude float8, speed int, course int,"
  " geofence_id bigint);"
  "CREATE TEMP TABLE pgw_device_state (seq bigint, imei text, servertime bigint,"
  " gpstime bigint, hearttime bigint, systemtime bigint, longitude float8, latitude float8,"
  " course int, speed int, acctime bigint, accstatus int, doorstatus int, chargestatus int,"
  " oilpowerstatus int, defencestatus int, datastatus int, battery int,"
  " mileage bigint, todaymileage bigint);"
  "CREATE TEMP TABLE pgw_devices (seq bigint, imei text, account text, devicename text,"
  " devicetype text, platenumber text, simcard text, iccid text, onlinetime bigint,"
  " platformduetime bigint, activatedtime bigint, userduetime bigint);"
  "CREATE TEMP TABLE pgw_mileage (seq bigint, imei text, day bigint, km float8);"
  "CREATE TEMP TABLE pgw_removed (imei text);"
  "CREATE TEMP TABLE pgw_cursors (imei text, stream text, cursor bigint);"
  "CREATE TEMP TABLE pgw_coverage (imei text, stream text, from_s bigint, to_s bigint);"
  "CREATE TEMP TABLE pgw_gaps (seq bigint, imei text, from_s bigint, to_s bigint,"
  " detected_s bigint, next_s bigint, asked_s bigint, attempts int, recovered bigint,"
  " healed_s bigint);";

/* Positions and alarms travel in binary COPY format, in the column order of these lists,
 * which is both their staging table's and their real table's: the same bytes go straight
 * into fleetarc.positions/alarms (the fast path) or into staging for a merge. */
#define POSITION_COLS "imei, gpstime, longitude, latitude, speed, course"
#define ALARM_COLS \
  "imei, alarm_type, gpstime, systemtime, longitude, latitude, speed, course, geofence_id"

/* Only positions take the direct path. Alarms always go through staging + ON CONFLICT:
 * alarm paging keeps its boundary record (distinct alarms may share a system time, so
 * the archiver cannot drop it), so most alarm pages overlap stored rows by design, and
 * one overlap would send the whole batch, positions included, down the slow path.
 * Alarms are a few percent of the rows: merging them costs little. */
const char *const pgw__direct_copy_sql[K_COUNT] = {
  [K_POSITIONS] = "COPY fleetarc.positions (" POSITION_COLS ") FROM STDIN (FORMAT binary)",
};

const char *const pgw__merge_sql[K_COUNT] = {
  [K_POSITIONS] =
    "INSERT INTO fleetarc.positions (" POSITION_COLS ") SELECT " POSITION_COLS
    " FROM pg_temp.pgw_positions ON CONFLICT DO NOTHING;",
  [K_ALARMS] =
    "INSERT INTO fleetarc.alarms (" ALARM_COLS ") SELECT " ALARM_COLS
    " FROM pg_temp.pgw_alarms ON CONFLICT DO NOTHING;",
  /* A stored record with a later servertime is newer than this one (a retried or late
   * batch): keep it. */
  [K_DEVICE_STATE] =
    "INSERT INTO fleetarc.device_state AS d (imei, servertime, gpstime, hearttime, systemtime,"
    " longitude, latitude, course, speed, acctime, accstatus, doorstatus, chargestatus,"
    " oilpowerstatus, defencestatus, datastatus, battery, mileage, todaymileage, updated_at)"
    " SELECT DISTINCT ON (imei) imei, to_timestamp(servertime), to_timestamp(gpstime),"
    " to_timestamp(hearttime), to_timestamp(systemtime), longitude, latitude, course, speed,"
    " acctime, accstatus, doorstatus, chargestatus, oilpowerstatus, defencestatus, datastatus,"
    " battery, mileage, todaymileage, now() FROM pg_temp.pgw_device_state ORDER BY imei, seq DESC"
    " ON CONFLICT (imei) DO UPDATE SET servertime = excluded.servertime,"
    " gpstime = excluded.gpstime, hearttime = excluded.hearttime,"
    " systemtime = excluded.systemtime, longitude = excluded.longitude,"
    " latitude = excluded.latitude, course = excluded.course, speed = excluded.speed,"
    " acctime = excluded.acctime, accstatus = excluded.accstatus,"
    " doorstatus = excluded.doorstatus, chargestatus = excluded.chargestatus,"
    " oilpowerstatus = excluded.oilpowerstatus, defencestatus = excluded.defencestatus,"
    " datastatus = excluded.datastatus, battery = excluded.battery,"
    " mileage = excluded.mileage, todaymileage = excluded.todaymileage,"
    " updated_at = excluded.updated_at"
    " WHERE d.servertime IS NULL OR excluded.servertime IS NULL"
    " OR excluded.servertime >= d.servertime;",
  [K_DEVICES] =
    "INSERT INTO fleetarc.devices AS d (imei, account, devicename, devicetype, platenumber,"
    " simcard, iccid, onlinetime, platformduetime, activatedtime, userduetime, first_seen,"
    " last_seen, removed_at)"
    " SELECT DISTINCT ON (imei) imei, account, devicename, devicetype, platenumber, simcard,"
    " iccid, to_timestamp(onlinetime), to_timestamp(platformduetime),"
    " to_timestamp(activatedtime), to_timestamp(userduetime), now(), now(), NULL"
    " FROM pg_temp.pgw_devices ORDER BY imei, seq DESC"
    " ON CONFLICT (imei) DO UPDATE SET account = excluded.account,"
    " devicename = excluded.devicename, devicetype = excluded.devicetype,"
    " platenumber = excluded.platenumber, simcard = excluded.simcard, iccid = excluded.iccid,"
    " onlinetime = excluded.onlinetime, platformduetime = excluded.platformduetime,"
    " activatedtime = excluded.activatedtime, userduetime = excluded.userduetime,"
    " last_seen = excluded.last_seen, removed_at = NULL;",
  [K_MILEAGE] =
    "INSERT INTO fleetarc.daily_mileage AS m (imei, day, km, updated_at)"
    " SELECT DISTINCT ON (imei, day) imei, day, km, now() FROM"
    " (SELECT seq, imei, (to_timestamp(day) AT TIME ZONE 'UTC')::date AS day, km"
    "  FROM pg_temp.pgw_mileage) s ORDER BY imei, day, seq DESC"
    " ON CONFLICT (imei, day) DO UPDATE SET km = excluded.km, updated_at = excluded.updated_at;",
  /* The first removal's time stays: a device already marked keeps its removed_at. */
  [K_REMOVED] =
    "UPDATE fleetarc.devices SET removed_at = now()"
    " WHERE imei IN (SELECT imei FROM pg_temp.pgw_removed) AND removed_at IS NULL;",
  /* Forward only: the WHERE leaves a cursor that is already further untouched (and
   * uncounted), GREATEST states the intent even if the WHERE is ever relaxed. */
  [K_CURSORS] =
    "INSERT INTO fleetarc.cursors AS c (imei, stream, cursor, updated_at)"
    " SELECT imei, stream, to_timestamp(max(cursor)), now() FROM pg_temp.pgw_cursors"
    " GROUP BY imei, stream"
    " ON CONFLICT (imei, stream) DO UPDATE SET cursor = GREATEST(c.cursor, excluded.cursor),"
    " updated_at = excluded.updated_at WHERE excluded.cursor > c.cursor;",
  /* One merge per interval, in order, so that the intervals of one device merge with
   * each other and with the stored ones (fleetarc.coverage_add). */
  [K_COVERAGE] =
    "SELECT sum(fleetarc.coverage_add(imei, stream, to_timestamp(from_s), to_timestamp(to_s)))"
    " FROM (SELECT * FROM pg_temp.pgw_coverage ORDER BY imei, stream, from_s) s;",
  /* In order of appending: a gap's later state is written after its earlier one. */
  [K_GAPS] =
    "SELECT sum(fleetarc.gap_put(imei, 'playback', to_timestamp(from_s), to_timestamp(to_s),"
    " to_timestamp(detected_s), to_timestamp(next_s), to_timestamp(asked_s), attempts,"
    " recovered, to_timestamp(healed_s)))"
    " FROM (SELECT * FROM pg_temp.pgw_gaps ORDER BY seq) s;",
};

/* The batch's fence statement (096_leases.sql), escaped for this connection; 0 or -ENOMEM. */
int pgw__fence_sql(PGconn *conn, const pgw_batch_t *b, buf_t *sql) {
  int rc = buf_puts(sql, "SELECT fleetarc.lease_fence(ARRAY[");
  for (size_t i = 0; i < b->nfence && rc == 0; i++) {
    char *lit = PQescapeLiteral(conn, b->fences[i].account, strlen(b->fences[i].account));
    if (!lit) return -ENOMEM;
    rc = buf_printf(sql, "%s%s", i ? "," : "", lit);
    PQfreemem(lit);
  }
  if (rc == 0) rc = buf_puts(sql, "]::text[], ARRAY[");
  for (size_t i = 0; i < b->nfence && rc == 0; i++)
    rc = buf_printf(sql, "%s%lld", i ? "," : "", (long long)b->fences[i].generation);
  char *lit = rc == 0 ? PQescapeLiteral(conn, b->fence_holder, strlen(b->fence_holder)) : NULL;
  if (rc == 0 && !lit) return -ENOMEM;
  if (rc == 0) rc = buf_printf(sql, "]::bigint[], %s);", lit);
  PQfreemem(lit);
  return rc;
}

static int64_t month_start(month_t m) {
  struct tm tm = {.tm_year = 70 + m / 12 - (m % 12 < 0), .tm_mon = ((m % 12) + 12) % 12, .tm_mday = 1};
  return (int64_t)timegm(&tm);
}

/* ------------------------------------------------------------------ steps */

static bool month_known(const pgw_t *w, month_t m) {
  for (size_t i = 0; i < w->nknown; i++)
    if (w->known_months[i] == m) return true;
  return false;
}

int pgw__remember_month(pgw_t *w, month_t m) {
  if (month_known(w, m)) return 0;
  if (GROW(w->known_months, w->capknown, w->nknown + 1) != 0) return -ENOMEM;
  w->known_months[w->nknown++] = m;
  return 0;
}

static int cmp_month(const void *a, const void *b) {
  month_t x = *(const month_t *)a, y = *(const month_t *)b;
  return (x > y) - (x < y);
}

/* The SQL that creates the batch's missing partitions, NULL when none is missing. Runs
 * outside the batch's transaction so that the DDL's locks are released at once. */
char *pgw__partitions_sql(pgw_t *w, const pgw_batch_t *b) {
  free(w->pending_months);
  w->pending_months = NULL;
  w->npending = 0;
  if (b->nmonths == 0) return NULL;
  w->pending_months = malloc(b->nmonths * sizeof(month_t));
  if (!w->pending_months) return NULL;
  for (size_t i = 0; i < b->nmonths; i++)
    if (!month_known(w, b->months[i])) w->pending_months[w->npending++] = b->months[i];
  if (w->npending == 0) return NULL;
  qsort(w->pending_months, w->npending, sizeof(month_t), cmp_month);
  buf_t sql = BUF_INIT;
  int rc = buf_puts(&sql, "SELECT 0");
  /* Contiguous months make one call each: an outlier (a device clock at 1970) must not
   * make every month in between. */
  for (size_t i = 0; rc == 0 && i < w->npending;) {
    size_t j = i;
    while (j + 1 < w->npending && w->pending_months[j + 1] == w->pending_months[j] + 1) j++;
    rc = buf_printf(&sql, " + fleetarc.ensure_partitions(to_timestamp(%lld), to_timestamp(%lld))",
                    (long long)month_start(w->pending_months[i]),
                    (long long)month_start(w->pending_months[j]));
    i = j + 1;
  }
  if (rc < 0) {
    buf_free(&sql);
    return NULL;
  }
  return buf_steal(&sql);
}
