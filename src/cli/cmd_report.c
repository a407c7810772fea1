/* `fleetarc report KIND`: runs one of the SQL report functions (sql/050_reports.sql) over
 * [--from, --to) and prints it as an aligned table, CSV (RFC 4180) or JSON. Also holds
 * what `fleetarc export` shares with it: the database choice and the result printer. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "db/query.h"
#include "util/timeparse.h"

#define DEFAULT_CONFIG_PATH "/etc/fleetarc/fleetarc.yaml"

/* UTC ISO 8601 text of a timestamptz column, whatever the session's TimeZone */
#define ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

typedef struct report_kind {
  const char *name;
  const char *sql; /* $1, $2: UNIX seconds (from, to); $3: comma-separated IMEIs or NULL */
} report_kind_t;

static const report_kind_t report_kinds[] = {
  {"trips",
   "SELECT imei, " ISO("start_time") " AS start, " ISO("end_time") " AS end, "
   "round(distance_km::numeric, 3) AS km, extract(epoch FROM duration)::bigint AS duration_s, "
   "round(avg_speed_kmh::numeric, 1) AS avg_kmh, max_speed_kmh AS max_kmh, "
   "start_lon, start_lat, end_lon, end_lat "
   "FROM fleetarc.report_trips(to_timestamp($1::float8), to_timestamp($2::float8), "
   "string_to_array($3, ',')) ORDER BY imei, start_time"},
  {"stops",
   "SELECT imei, " ISO("start_time") " AS start, " ISO("end_time") " AS end, "
   "extract(epoch FROM duration)::bigint AS duration_s, longitude, latitude "
   "FROM fleetarc.report_stops(to_timestamp($1::float8), to_timestamp($2::float8), "
   "string_to_array($3, ',')) ORDER BY imei, start_time"},
  {"distance",
   "SELECT imei, day::text AS day, round(km::numeric, 3) AS km, points "
   "FROM fleetarc.report_distance(to_timestamp($1::float8), to_timestamp($2::float8), "
   "string_to_array($3, ',')) ORDER BY imei, day"},
  {"alarms",
   "SELECT imei, day::text AS day, alarm_type, type_name, alarms, " ISO("first_time")
   " AS first, " ISO("last_time") " AS last "
   "FROM fleetarc.report_alarms(to_timestamp($1::float8), to_timestamp($2::float8), "
   "string_to_array($3, ',')) ORDER BY imei, day, alarm_type"},
  {"gaps",
   "SELECT imei, " ISO("start_time") " AS start, " ISO("end_time") " AS end, "
   "extract(epoch FROM duration)::bigint AS duration_s, longitude, latitude "
   "FROM fleetarc.report_gaps(to_timestamp($1::float8), to_timestamp($2::float8), "
   "string_to_array($3, ',')) ORDER BY imei, start_time"},
  {NULL, NULL},
};

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc report trips|stops|distance|alarms|gaps --from T --to T\n"
          "                       [--imei LIST] [--format table|csv|json] [--database CONNINFO]\n"
          "\n"
          "Runs a report over the archived tracks in [--from, --to) (--to is exclusive).\n"
          "  trips     one row per trip: start, end, km, duration, speeds, end points\n"
          "  stops     one row per stop: start, end, duration, position\n"
          "  distance  km and points per device and UTC day\n"
          "  alarms    alarms per device, UTC day and type\n"
          "  gaps      silences of more than an hour between two stored points\n"
          "\n"
          "options:\n"
          "  --from T, --to T     2026-11-01, 2026-11-01T06:30:00Z, ISO 8601 with offset,\n"
          "                       or UNIX seconds; dates are UTC midnight\n"
          "  --imei LIST          comma-separated IMEIs (default: every device)\n"
          "  --format F           table (default), csv (RFC 4180) or json\n"
          "  --database CONNINFO  libpq conninfo or postgresql:// URI (default: the\n"
          "                       configuration's database.conninfo when -c FILE or\n"
          "                       $FLEETARC_CONFIG is given, else the PG* variables)\n"
          "  -h, --help           this help\n"
          "Times are printed in UTC. An --imei the archive has never heard of is named on\n"
          "stderr, and an empty report says so there too.\n"
          "exit status: 0 done (an empty report too), 1 database error or an unknown IMEI,\n"
          "2 bad usage.\n");
}

int cli_database_conninfo(const cli_context_t *ctx, const char *option, const char *cmd,
                          char **out) {
  *out = NULL;
  if (option) {
    *out = strdup(option);
    return *out ? 0 : -ENOMEM;
  }
  /* the configuration only when one was asked for: a report must work with PG* alone */
  const char *env = getenv("FLEETARC_CONFIG");
  int explicit_config = (env && *env) || strcmp(ctx->config_path, DEFAULT_CONFIG_PATH) != 0;
  if (!explicit_config) return 0;
  config_t *cfg = NULL;
  int st = cli_config_read(ctx, cmd, &cfg);
  if (st != CLI_EXIT_OK) return st == CLI_EXIT_FAILED ? -ENOMEM : -EINVAL;
  int rc = 0;
  if (cfg->database.conninfo && *cfg->database.conninfo) {
    *out = strdup(cfg->database.conninfo);
    if (!*out) rc = -ENOMEM;
  }
  config_free(cfg);
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

int cmd_report(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const report_kind_t *kind = NULL;
  const char *from_s = NULL, *to_s = NULL, *imeis = NULL, *format_s = "table", *database = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (cli_option(argc, argv, &i, "--from", &v)) from_s = v ? v : "";
    else if (cli_option(argc, argv, &i, "--to", &v)) to_s = v ? v : "";
    else if (cli_option(argc, argv, &i, "--imei", &v)) imeis = v ? v : "";
    else if (cli_option(argc, argv, &i, "--format", &v)) format_s = v ? v : "";
    else if (cli_option(argc, argv, &i, "--database", &v)) database = v ? v : "";
    else if (argv[i][0] != '-' && !kind) {
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
  if (imeis && (!*imeis || strspn(imeis, "0123456789,") != strlen(imeis))) {
    fprintf(stderr, "fleetarc report: --imei takes comma-separated IMEIs (digits)\n");
    return CLI_EXIT_USAGE;
  }

  char *conninfo = NULL;
  int rc = cli_database_conninfo(ctx, database, "report", &conninfo);
  if (rc < 0) return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
  char from_p[24], to_p[24], err[1024];
  snprintf(from_p, sizeof from_p, "%" PRId64, from);
  snprintf(to_p, sizeof to_p, "%" PRId64, to);
  const char *params[3] = {from_p, to_p, imeis};
  db_result_t *res = NULL;
  int status = CLI_EXIT_FAILED;
  if (db_query(conninfo, kind->sql, 3, params, &res, err, sizeof err) < 0) {
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
  return status;
}
