/* Retention (retention.h): one fleetarc.drop_partitions_before() call per table with a
 * retention, the old refused rows, then fleetarc.ensure_partitions() for the months
 * ahead. And the reports' finished days stored ahead (fleetarc.refresh_device_days). */
#include "ops/retention.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "db/query.h"

static int drops_append(retention_report_t *out, const char *table, const db_result_t *r) {
  size_t rows = db_result_rows(r);
  if (rows == 0) return 0;
  retention_drop_t *d = realloc(out->drops, (out->n + rows) * sizeof *d);
  if (!d) return -ENOMEM;
  out->drops = d;
  for (size_t i = 0; i < rows; i++) {
    retention_drop_t *x = &out->drops[out->n++];
    memset(x, 0, sizeof *x);
    const char *v;
    snprintf(x->table, sizeof x->table, "%s", table);
    snprintf(x->partition, sizeof x->partition, "%s", (v = db_result_value(r, i, 0)) ? v : "");
    snprintf(x->range_start, sizeof x->range_start, "%s", (v = db_result_value(r, i, 1)) ? v : "");
    snprintf(x->range_end, sizeof x->range_end, "%s", (v = db_result_value(r, i, 2)) ? v : "");
  }
  return 0;
}

/* Runs sql with the one parameter `at` (UNIX seconds) and reads the first column of its
 * one row as a number into *value (0 when NULL or no row). */
static int query_number(const char *conninfo, const char *sql, int64_t at, long long *value,
                        char *err, size_t errlen) {
  char s[32];
  snprintf(s, sizeof s, "%lld", (long long)at);
  const char *params[] = {s};
  db_result_t *r = NULL;
  int rc = db_query(conninfo, sql, 1, params, &r, err, errlen);
  if (rc) return rc;
  const char *v = db_result_rows(r) ? db_result_value(r, 0, 0) : NULL;
  *value = v ? atoll(v) : 0;
  db_result_free(r);
  return 0;
}

int retention_apply(const config_t *cfg, const char *conninfo, int64_t now, bool dry_run,
                    retention_report_t *out, char *err, size_t errlen) {
  static const char *const tables[] = {"positions", "alarms"};
  int64_t keep_ms[] = {cfg->retention.positions_ms, cfg->retention.alarms_ms};
  memset(out, 0, sizeof *out);
  if (!conninfo) conninfo = cfg->database.conninfo;
  int rc = 0;
  db_result_t *r = NULL;
  for (int t = 0; t < 2; t++) {
    if (keep_ms[t] <= 0) continue;
    char cutoff[32];
    snprintf(cutoff, sizeof cutoff, "%lld", (long long)(now - keep_ms[t] / 1000));
    const char *params[] = {tables[t], cutoff, dry_run ? "true" : "false"};
    rc = db_query(conninfo,
                  "SELECT partition_name, range_start, range_end FROM "
                  "fleetarc.drop_partitions_before($1, to_timestamp($2::bigint), $3::boolean)",
                  3, params, &r, err, errlen);
    if (rc) goto fail;
    rc = drops_append(out, tables[t], r);
    db_result_free(r);
    r = NULL;
    if (rc) goto fail;
  }
  if (cfg->retention.rejected_ms > 0) {
    /* By the latest refusal: a row the platform still sends and the database still
     * refuses stays in view however old its first refusal. */
    rc = query_number(conninfo,
                      dry_run ? "SELECT count(*) FROM fleetarc.rejected WHERE last_at < to_timestamp($1::bigint)"
                              : "WITH d AS (DELETE FROM fleetarc.rejected WHERE last_at < to_timestamp($1::bigint)"
                                " RETURNING 1) SELECT count(*) FROM d",
                      now - cfg->retention.rejected_ms / 1000, &out->rejected, err, errlen);
    if (rc) goto fail;
  }
  if (!dry_run) {
    long long created = 0;
    rc = query_number(conninfo,
                      "SELECT fleetarc.ensure_partitions(to_timestamp($1::bigint), "
                      "to_timestamp($1::bigint) + interval '2 months')",
                      now, &created, err, errlen);
    if (rc) goto fail;
    out->created = (int)created;
  }
  return 0;
fail:
  if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
  retention_report_free(out);
  return rc;
}

void retention_report_free(retention_report_t *r) {
  if (!r) return;
  free(r->drops);
  r->drops = NULL;
  r->n = 0;
}

int reports_store_ahead(const config_t *cfg, struct db_canceller *cancel, reports_ahead_t *out,
                        char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->stored = true;
  int64_t days = cfg->reports.store_ahead_ms / 86400000;
  const char *tz = cfg->reports.timezone && *cfg->reports.timezone ? cfg->reports.timezone : "UTC";
  /* The oldest day first: a day's refresh also purges the write notes it no longer needs,
   * and yesterday, the day most reports ask for, is then done last with the fewest. */
  for (int64_t k = days; k >= 1; k--) {
    char back[24];
    snprintf(back, sizeof back, "%lld", (long long)k);
    const char *params[] = {back, tz};
    db_result_t *r = NULL;
    int rc = db_query_cancellable(
      cfg->database.conninfo,
      "SELECT count(*), coalesce(sum(devices), 0), coalesce(bool_and(stored), true)"
      " FROM fleetarc.refresh_device_days("
      "  ((now() AT TIME ZONE $2)::date - $1::int)::timestamp AT TIME ZONE $2,"
      "  ((now() AT TIME ZONE $2)::date - $1::int + 1)::timestamp AT TIME ZONE $2, $2)",
      2, params, &r, err, errlen, cancel);
    if (rc) return rc;
    const char *v;
    if (db_result_rows(r)) {
      out->days += (v = db_result_value(r, 0, 0)) ? atoi(v) : 0;
      out->device_days += (v = db_result_value(r, 0, 1)) ? atoll(v) : 0;
      if ((v = db_result_value(r, 0, 2)) && strcmp(v, "f") == 0) out->stored = false;
    }
    db_result_free(r);
  }
  return 0;
}
