/* Retention and partitions ahead, over blocking libpq calls (db/query.h): safe to run in
 * a worker thread, since each call has a connection of its own. Retention of history
 * only ever drops whole monthly partitions (sql/060_retention.sql), never DELETEs rows;
 * the operator's table of refused rows (fleetarc.rejected, small) is bounded by a
 * DELETE of the rows last refused before retention.rejected. */
#ifndef FLEETARC_OPS_RETENTION_H
#define FLEETARC_OPS_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct config;

/* One partition dropped (or that would be, on a dry run). */
typedef struct retention_drop {
  char table[16];     /* "positions" or "alarms" */
  char partition[64]; /* "positions_202401" */
  char range_start[40], range_end[40]; /* as PostgreSQL prints timestamptz */
} retention_drop_t;

typedef struct retention_report {
  retention_drop_t *drops; /* owned; free with retention_report_free */
  size_t n;
  int created;             /* partitions created ahead (0 on a dry run) */
  long long rejected;      /* fleetarc.rejected rows deleted (dry run: that would be) */
} retention_report_t;

/* Applies retention.positions / retention.alarms of cfg with `now` (UNIX seconds) as the
 * present, on conninfo (NULL: cfg's), deletes the fleetarc.rejected rows whose last
 * refusal is older than retention.rejected (dry run: counts them), then (unless
 * dry_run) creates the partitions of the current and the next two months. Returns 0 with *out filled, or -EIO / -ENOMEM with
 * err set (no password). A table without retention is left alone. */
int retention_apply(const struct config *cfg, const char *conninfo, int64_t now, bool dry_run,
                    retention_report_t *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void retention_report_free(retention_report_t *r);

/* What reports_store_ahead did: days walked, device-days with points stored (fresh or
 * already right), and whether the database let it store anything (false: a read-only
 * role or session; the reports then compute those days when asked, as before). */
typedef struct reports_ahead {
  int days;
  long long device_days;
  bool stored;
} reports_ahead_t;

struct db_canceller;

/* The finished local days of reports.timezone among the last reports.store_ahead
 * (yesterday first back to the oldest, one statement a day): their device-day summaries
 * and one-day trips/stops computed and stored now (fleetarc.refresh_device_days,
 * sql/104), new days and days a late row made stale alike, so that the reports of
 * finished days read them instead of computing them at the first ask. Blocking (a
 * connection of its own: a worker thread's); cancel stops it between days and cancels
 * the statement in progress (-ECANCELED). A zero store_ahead does nothing. 0, or
 * -EIO / -ECANCELED with err set (no password). */
int reports_store_ahead(const struct config *cfg, struct db_canceller *cancel,
                        reports_ahead_t *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
