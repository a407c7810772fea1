/* `fleetarc report KIND`: runs one of the SQL report functions (sql/050, 080, 081) over
 * [--from, --to) and prints it as an aligned table, CSV (RFC 4180) or JSON. Also holds
 * what `fleetarc export` shares with it: the database choice and the result printer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "db/conn.h"
#include "db/query.h"
#include "util/timeparse.h"

#define DEFAULT_CONFIG_PATH "/etc/fleetarc/fleetarc.yaml"

/* Every kind's query starts with this: the parameters, typed once.
 * $1, $2: UNIX seconds (from, to); $3: comma-separated IMEIs or NULL; $4: time zone;
 * $5: --min-distance (m); $6: --min-duration (s); $7: --gap (s); $8: --limit-kmh */
#define OPTS                                                                                \
  "WITH o AS (SELECT to_timestamp($1::float8) AS f, to_timestamp($2::float8) AS t, "       \
  "string_to_array($3, ',') AS i, $4::text AS tz, $5::float8 AS mind, "                    \
  "make_interval(secs => $6::float8) AS mindur, make_interval(secs => $7::float8) AS gap, " \
  "$8::float8 AS lim) "
/* ISO 8601 text of a timestamptz column in the report's time zone */
#define ISO(x) "fleetarc.iso_time(" x ", o.tz)"
#define NAMES "r.imei, r.devicename AS name, r.platenumber AS plate, "

typedef struct report_kind {
  const char *name;
  const char *sql;
} report_kind_t;

static const report_kind_t report_kinds[] = {
  {"trips",
   OPTS "SELECT " NAMES ISO("r.start_time") " AS start, " ISO("r.end_time") " AS end, "
   "round(r.distance_km::numeric, 3) AS km, extract(epoch FROM r.duration)::bigint AS duration_s, "
   "round(r.avg_speed_kmh::numeric, 1) AS avg_kmh, r.max_speed_kmh AS max_kmh, "
   "r.start_lon, r.start_lat, r.end_lon, r.end_lat "
   "FROM o, fleetarc.report_trips(o.f, o.t, o.i, o.mind, o.mindur, o.gap, 250, o.tz) r "
   "ORDER BY r.imei, r.start_time"},
  {"stops",
   OPTS "SELECT " NAMES ISO("r.start_time") " AS start, " ISO("r.end_time") " AS end, "
   "extract(epoch FROM r.duration)::bigint AS duration_s, r.longitude, r.latitude "
   "FROM o, fleetarc.report_stops(o.f, o.t, o.i, o.mind, o.mindur, o.gap, 250, o.tz) r "
   "ORDER BY r.imei, r.start_time"},
  {"distance",
   OPTS "SELECT " NAMES "r.day::text AS day, round(r.km::numeric, 3) AS km, r.points "
   "FROM o, fleetarc.report_distance(o.f, o.t, o.i, 250, o.tz) r ORDER BY r.imei, r.day"},
  {"alarms",
   OPTS "SELECT " NAMES "r.day::text AS day, r.alarm_type, r.type_name, r.alarms, "
   ISO("r.first_time") " AS first, " ISO("r.last_time") " AS last "
   "FROM o, fleetarc.report_alarms(o.f, o.t, o.i, o.tz) r ORDER BY r.imei, r.day, r.alarm_type"},
  {"gaps",
   OPTS "SELECT " NAMES ISO("r.start_time") " AS start, " ISO("r.end_time") " AS end, "
   "extract(epoch FROM r.duration)::bigint AS duration_s, r.longitude, r.latitude "
   "FROM o, fleetarc.report_gaps(o.f, o.t, o.i, o.gap) r ORDER BY r.imei, r.start_time"},
  {"latest",
   OPTS "SELECT " NAMES ISO("r.gpstime") " AS time, r.longitude, r.latitude, "
   "r.speed AS speed_kmh, r.course "
   "FROM o, fleetarc.report_latest(o.f, o.t, o.i) r ORDER BY r.imei"},
  {"route",
   OPTS "SELECT " NAMES ISO("r.gpstime") " AS time, r.longitude, r.latitude, "
   "r.speed AS speed_kmh, r.course, round(r.step_km::numeric, 3) AS step_km, "
   "round(r.total_km::numeric, 3) AS total_km "
   "FROM o, fleetarc.report_route(o.f, o.t, o.i, 250) r ORDER BY r.imei, r.gpstime"},
  {"speeding",
   OPTS "SELECT " NAMES ISO("r.start_time") " AS start, " ISO("r.end_time") " AS end, "
   "extract(epoch FROM r.duration)::bigint AS duration_s, r.max_speed_kmh AS max_kmh, "
   "r.points, r.start_lon, r.start_lat "
   "FROM o, fleetarc.report_speeding(o.f, o.t, o.i, o.lim, o.gap, 250) r "
   "ORDER BY r.imei, r.start_time"},
  /* not a report: stores the results of finished days ahead (sql/104), one row a day */
  {"refresh",
   OPTS "SELECT r.day::text AS day, r.devices, r.stored "
   "FROM o, fleetarc.refresh_device_days(o.f, o.t, o.tz, o.mind, o.mindur, o.gap, 250) r "
   "ORDER BY r.day"},
  {"summary",
   OPTS "SELECT " NAMES "r.day::text AS day, round(r.distance_km::numeric, 3) AS km, "
   "r.max_speed_kmh AS max_kmh, round(r.avg_speed_kmh::numeric, 1) AS avg_kmh, "
   "extract(epoch FROM r.moving)::bigint AS moving_s, "
   "extract(epoch FROM r.stopped)::bigint AS stopped_s, "
   "extract(epoch FROM r.engine)::bigint AS engine_s, r.trips, r.alarms, r.points, "
   ISO("r.first_time") " AS first, " ISO("r.last_time") " AS last "
   "FROM o, fleetarc.report_summary(o.f, o.t, o.i, o.tz, o.mind, o.mindur, o.gap, 250) r "
   "ORDER BY r.imei, r.day"},
  {NULL, NULL},
};

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc report KIND --from T --to T [--imei LIST] [--tz ZONE]\n"
          "                       [--min-distance M] [--min-duration D] [--gap D]\n"
          "                       [--limit-kmh V] [--format table|csv|json]\n"
          "                       [--database CONNINFO]\n"
          "\n"
          "Runs a report over the archived tracks in [--from, --to) (--to is exclusive).\n"
          "Every row names the device: imei, name and plate (from the device list).\n"
          "  trips     one row per trip: start, end, km, duration, speeds, end points\n"
          "  stops     one row per stop: start, end, duration, position\n"
          "  distance  km and points per device and day\n"
          "  alarms    alarms per device, day and type\n"
          "  gaps      silences longer than --gap between two stored points\n"
          "  latest    the last stored position of each device in the range\n"
          "  route     every cleaned point with its step and running km\n"
          "  speeding  runs of points above --limit-kmh\n"
          "  summary   per device and day: km, max and average speed, moving, stopped and\n"
          "            engine time (ACC alarms 9/10, empty without them), trips, alarms\n"
          "  refresh   not a report: computes and stores ahead what the reports read for\n"
          "            the finished days in the range (per device-day summaries, one-day\n"
          "            trips and stops; new days and days changed by late rows), so that\n"
          "            the reports of those days are lookups; one row per day (run it\n"
          "            nightly, e.g. --from yesterday's date --to today's; no --imei)\n"
          "\n"
          "options:\n"
          "  --from T, --to T     2026-11-01, 2026-11-01T06:30:00Z, ISO 8601 with offset,\n"
          "                       or UNIX seconds; dates are UTC midnight\n"
          "  --imei LIST          comma-separated IMEIs (default: every device)\n"
          "  --tz ZONE            IANA time zone of days and printed times (default:\n"
          "                       reports.timezone of the configuration, else UTC)\n"
          "  --min-distance M     trips/stops/summary: metres a trip must leave (200)\n"
          "  --min-duration D     trips/stops/summary: a stay this long ends a trip (180s)\n"
          "  --gap D              silence that breaks a trip (trips, stops, summary,\n"
          "                       speeding) or is reported (gaps); 1h\n"
          "  --limit-kmh V        speeding: the limit in km/h (90)\n"
          "  --format F           table (default), csv (RFC 4180) or json\n"
          "  --database CONNINFO  libpq conninfo or postgresql:// URI (default: the\n"
          "                       configuration's database.conninfo when -c FILE or\n"
          "                       $FLEETARC_CONFIG is given, else the PG* variables);\n"
          CLI_DATABASE_PASSWORD_HELP
          "  -h, --help           this help\n"
          "Durations: 90s, 5m, 1h30m. Times are printed as ISO 8601 with the zone's offset.\n"
          "An --imei the archive has never heard of is named on stderr, and an empty report\n"
          "says so there too.\n"
          "exit status: 0 done (an empty report too), 1 database error or an unknown IMEI,\n"
          "2 bad usage.\n");
}

int cli_database_option_check(const char *cmd, const char *conninfo) {
  int rc = db_conninfo_has_password(conninfo);
  if (rc == 0) return CLI_EXIT_OK;
  if (rc == -EINVAL)
    fprintf(stderr, "fleetarc %s: --database: libpq cannot parse the CONNINFO\n", cmd);
  else if (rc == -ENOMEM)
    fprintf(stderr, "fleetarc %s: out of memory\n", cmd);
  else
    fprintf(stderr, "fleetarc %s: --database must not hold a password (the command line is "
                    "readable by every user): put it in PGPASSWORD or PGPASSFILE\n", cmd);
  return CLI_EXIT_USAGE;
}

int cli_database_conninfo(const cli_context_t *ctx, const char *option, const char *cmd,
                          char **out) {
  return cli_report_settings(ctx, option, cmd, out, NULL);
}

int cli_report_settings(const cli_context_t *ctx, const char *option, const char *cmd,
                        char **conninfo, char **timezone) {
  *conninfo = NULL;
  if (timezone) *timezone = NULL;
  if (option && cli_database_option_check(cmd, option) != CLI_EXIT_OK) return -EINVAL;
  /* the configuration only when one was asked for: a report must work with PG* alone */
  const char *env = getenv("FLEETARC_CONFIG");
  int explicit_config = (env && *env) || strcmp(ctx->config_path, DEFAULT_CONFIG_PATH) != 0;
  config_t *cfg = NULL;
  if (explicit_config && (!option || timezone)) {
    int st = cli_config_read(ctx, cmd, &cfg);
    if (st != CLI_EXIT_OK) return st == CLI_EXIT_FAILED ? -ENOMEM : -EINVAL;
  }
  int rc = 0;
  if (option) *conninfo = strdup(option);
  else if (cfg && cfg->database.conninfo && *cfg->database.conninfo)
    *conninfo = strdup(cfg->database.conninfo);
  if ((option || (cfg && cfg->database.conninfo && *cfg->database.conninfo)) && !*conninfo)
    rc = -ENOMEM;
  if (timezone && !(*timezone = strdup(cfg && cfg->reports.timezone ? cfg->reports.timezone : "UTC")))
    rc = -ENOMEM;
  config_free(cfg);
  if (rc < 0) {
    free(*conninfo);
    *conninfo = NULL;
    if (timezone) {
      free(*timezone);
      *timezone = NULL;
    }
  }
  return rc;
}

/* ---- the printer: output.c's writers over the query result's own cells ---- */

static const char *result_cell(const void *src, size_t row, size_t col) {
  return db_result_value(src, row, col);
}

int cli_print_result(const db_result_t *r, output_format_t format, FILE *out) {
  size_t rows = db_result_rows(r), ncols = db_result_cols(r);
  output_column_t *cols = calloc(ncols ? ncols : 1, sizeof *cols);
  if (!cols) return -ENOMEM;
  for (size_t c = 0; c < ncols; c++) {
    db_col_kind_t k = db_result_kind(r, c);
    cols[c].name = db_result_name(r, c);
    cols[c].kind = k == DB_COL_NUMBER ? OUTPUT_NUM : k == DB_COL_BOOL ? OUTPUT_BOOL : OUTPUT_STR;
  }
  int rc = output_write_cells(cols, ncols, rows, result_cell, r, format, out);
  free(cols);
  if (rc == 0 && format == OUTPUT_TABLE) { /* psql's footer: an empty report says so */
    fprintf(out, "(%zu row%s)\n", rows, rows == 1 ? "" : "s");
    if (ferror(out)) rc = -EIO;
  }
  return rc;
}

/* ---- options shared with export ---- */

int cli_parse_time_option(const char *cmd, const char *opt, const char *value, int64_t *out) {
  char err[TIMEPARSE_ERR_MAX];
  if (!value) {
    fprintf(stderr, "fleetarc %s: %s needs a time\n", cmd, opt);
    return -EINVAL;
  }
  if (timeparse_time(value, out, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc %s: %s '%s': %s\n", cmd, opt, value, err);
    return -EINVAL;
  }
  return 0;
}

int cli_parse_duration_option(const char *cmd, const char *opt, const char *value,
                               double *seconds) {
  char err[TIMEPARSE_ERR_MAX];
  int64_t ms;
  if (!value || !*value) {
    fprintf(stderr, "fleetarc %s: %s needs a duration (e.g. 180s, 5m)\n", cmd, opt);
    return -EINVAL;
  }
  if (timeparse_duration(value, &ms, err, sizeof err) != 0) {
    fprintf(stderr, "fleetarc %s: %s '%s': %s\n", cmd, opt, value, err);
    return -EINVAL;
  }
  *seconds = (double)ms / 1000.0;
  return 0;
}

static int parse_number(const char *opt, const char *value, double min, double *out) {
  char *end = NULL;
  errno = 0;
  double d = value && *value ? strtod(value, &end) : 0;
  if (!value || !*value || *end || errno || !(d >= min) || d > 1e9) {
    fprintf(stderr, "fleetarc report: %s takes a number of at least %g\n", opt, min);
    return -EINVAL;
  }
  *out = d;
  return 0;
}

int cli_timezone_valid(const char *tz) {
  if (!tz || !*tz || *tz == '/' || strstr(tz, "..") || strstr(tz, "//")) return 0;
  return strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") ==
         strlen(tz);
}

int cmd_report(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const report_kind_t *kind = NULL;
  const char *from_s = NULL, *to_s = NULL, *imeis = NULL, *format_s = "table", *database = NULL,
             *tz_s = NULL;
  double min_distance = 200, min_duration = 180, gap = 3600, limit = 90;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int r;
    if ((r = cli_option("report", argc, argv, &i, "--from", &from_s)) ||
        (r = cli_option("report", argc, argv, &i, "--to", &to_s)) ||
        (r = cli_option("report", argc, argv, &i, "--imei", &imeis)) ||
        (r = cli_option("report", argc, argv, &i, "--format", &format_s)) ||
        (r = cli_option("report", argc, argv, &i, "--database", &database)) ||
        (r = cli_option("report", argc, argv, &i, "--tz", &tz_s))) {
      if (r < 0) return CLI_EXIT_USAGE;
    } else if ((r = cli_option("report", argc, argv, &i, "--min-distance", &v))) {
      if (r < 0 || parse_number("--min-distance", v, 0, &min_distance) < 0) return CLI_EXIT_USAGE;
    } else if ((r = cli_option("report", argc, argv, &i, "--limit-kmh", &v))) {
      if (r < 0 || parse_number("--limit-kmh", v, 0, &limit) < 0) return CLI_EXIT_USAGE;
    } else if ((r = cli_option("report", argc, argv, &i, "--min-duration", &v))) {
      if (r < 0 || cli_parse_duration_option("report", "--min-duration", v, &min_duration) < 0)
        return CLI_EXIT_USAGE;
    } else if ((r = cli_option("report", argc, argv, &i, "--gap", &v))) {
      if (r < 0 || cli_parse_duration_option("report", "--gap", v, &gap) < 0) return CLI_EXIT_USAGE;
    } else if (argv[i][0] != '-' && !kind) {
      for (const report_kind_t *k = report_kinds; k->name; k++)
        if (strcmp(k->name, argv[i]) == 0) kind = k;
      if (!kind) {
        fprintf(stderr, "fleetarc report: unknown report '%s'\n", argv[i]);
        usage(stderr);
        return CLI_EXIT_USAGE;
      }
    } else {
      fprintf(stderr, "fleetarc report: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  output_format_t format;
  int64_t from, to;
  if (!kind || !from_s || !to_s) {
    fprintf(stderr, "fleetarc report: a report kind, --from and --to are required\n");
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (cli_parse_time_option("report", "--from", from_s, &from) < 0 ||
      cli_parse_time_option("report", "--to", to_s, &to) < 0)
    return CLI_EXIT_USAGE;
  if (to <= from) {
    fprintf(stderr, "fleetarc report: --to must be after --from\n");
    return CLI_EXIT_USAGE;
  }
  if (output_format_parse(format_s, &format) < 0) {
    fprintf(stderr, "fleetarc report: --format must be table, csv or json, not '%s'\n", format_s);
    return CLI_EXIT_USAGE;
  }
  if (imeis && strcmp(kind->name, "refresh") == 0) {
    fprintf(stderr, "fleetarc report: refresh stores every device's days: no --imei\n");
    return CLI_EXIT_USAGE;
  }
  if (imeis && (!*imeis || strspn(imeis, "0123456789,") != strlen(imeis))) {
    fprintf(stderr, "fleetarc report: --imei takes comma-separated IMEIs (digits)\n");
    return CLI_EXIT_USAGE;
  }
  if (tz_s && !cli_timezone_valid(tz_s)) {
    fprintf(stderr, "fleetarc report: --tz takes an IANA time zone name (e.g. Europe/Berlin)\n");
    return CLI_EXIT_USAGE;
  }

  char *conninfo = NULL, *tz_conf = NULL;
  int rc = cli_report_settings(ctx, database, "report", &conninfo, tz_s ? NULL : &tz_conf);
  if (rc < 0) return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
  char from_p[24], to_p[24], mind_p[32], mindur_p[32], gap_p[32], lim_p[32], err[1024];
  snprintf(from_p, sizeof from_p, "%" PRId64, from);
  snprintf(to_p, sizeof to_p, "%" PRId64, to);
  snprintf(mind_p, sizeof mind_p, "%.17g", min_distance);
  snprintf(mindur_p, sizeof mindur_p, "%.17g", min_duration);
  snprintf(gap_p, sizeof gap_p, "%.17g", gap);
  snprintf(lim_p, sizeof lim_p, "%.17g", limit);
  const char *params[8] = {from_p, to_p, imeis, tz_s ? tz_s : tz_conf,
                           mind_p, mindur_p, gap_p, lim_p};
  db_result_t *res = NULL;
  int status = CLI_EXIT_FAILED;
  if (db_query(conninfo, kind->sql, 8, params, &res, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc report: %s\n", err[0] ? err : "out of memory");
    goto out;
  }
  if (cli_print_result(res, format, stdout) < 0 || fflush(stdout) != 0) {
    fprintf(stderr, "fleetarc report: cannot write the output\n");
    goto out;
  }
  if (imeis || db_result_rows(res) == 0) {
    int unknown = cli_say_unknown("report", conninfo, imeis, db_result_rows(res));
    if (unknown != 0) goto out;
  }
  status = CLI_EXIT_OK;
out:
  db_result_free(res);
  free(conninfo);
  free(tz_conf);
  return status;
}
