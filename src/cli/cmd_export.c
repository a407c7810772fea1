/* `fleetarc export IMEI`: one device's stored track over [--from, --to) as GPX 1.1, a
 * GeoJSON LineString Feature, KML 2.2 or CSV, on stdout or into --output FILE. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "db/query.h"

/* gpstime as UTC ISO 8601; coordinates as PostgreSQL prints float8 (shortest exact) */
static const char export_sql[] =
    "SELECT to_char(gpstime AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS gpstime, "
    "longitude, latitude, speed, course FROM fleetarc.positions "
    "WHERE imei = $1 AND gpstime >= to_timestamp($2::float8) AND gpstime < to_timestamp($3::float8) "
    "ORDER BY gpstime";

enum { COL_TIME, COL_LON, COL_LAT, COL_SPEED, COL_COURSE };

/* export's own formats: CSV is the shared result printer's, the others are tracks */
typedef enum { EXPORT_GPX = 0, EXPORT_GEOJSON, EXPORT_CSV, EXPORT_KML } export_format_t;

static int export_format_parse(const char *s, export_format_t *out) {
  static const char *const names[] = {"gpx", "geojson", "csv", "kml"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (export_format_t)i;
      return 0;
    }
  }
  return -EINVAL;
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc export IMEI --from T --to T --format gpx|geojson|csv|kml\n"
          "                       [--output FILE] [--database CONNINFO]\n"
          "\n"
          "Writes one device's stored track in [--from, --to) (--to is exclusive), every\n"
          "stored point in time order:\n"
          "  gpx      GPX 1.1, one track of one segment\n"
          "  geojson  a GeoJSON Feature with a LineString; properties hold imei and times\n"
          "  csv      gpstime,longitude,latitude,speed,course (RFC 4180)\n"
          "  kml      KML 2.2, one Placemark with a LineString\n"
          "\n"
          "options:\n"
          "  --from T, --to T     2026-11-01, 2026-11-01T06:30:00Z, ISO 8601 with offset,\n"
          "                       or UNIX seconds\n"
          "  --output FILE        write there instead of stdout\n"
          "  --database CONNINFO  as for `fleetarc report`\n"
          "  -h, --help           this help\n"
          "An unknown IMEI (never listed nor archived) is named on stderr and nothing is\n"
          "written; an empty range is said on stderr and gives an empty track.\n"
          "exit status: 0 done (an empty range too), 1 unknown IMEI, database or write error,\n"
          "2 bad usage.\n");
}

/* XML text and attribute values: the five predefined entities */
static void xml_escape(FILE *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&': fputs("&amp;", out); break;
      case '<': fputs("&lt;", out); break;
      case '>': fputs("&gt;", out); break;
      case '"': fputs("&quot;", out); break;
      case '\'': fputs("&apos;", out); break;
      default: fputc(*s, out);
    }
  }
}

static const char *val(const db_result_t *r, size_t row, int col) {
  const char *v = db_result_value(r, row, (size_t)col);
  return v ? v : "";
}

static void write_gpx(FILE *out, const char *imei, const db_result_t *r) {
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<gpx version=\"1.1\" creator=\"fleetarc\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n"
        "  <trk>\n    <name>", out);
  xml_escape(out, imei);
  fputs("</name>\n    <trkseg>\n", out);
  for (size_t i = 0; i < db_result_rows(r); i++) {
    fputs("      <trkpt lat=\"", out);
    xml_escape(out, val(r, i, COL_LAT));
    fputs("\" lon=\"", out);
    xml_escape(out, val(r, i, COL_LON));
    fputs("\"><time>", out);
    xml_escape(out, val(r, i, COL_TIME));
    fputs("</time></trkpt>\n", out);
  }
  fputs("    </trkseg>\n  </trk>\n</gpx>\n", out);
}

static void write_kml(FILE *out, const char *imei, const db_result_t *r) {
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<kml xmlns=\"http://www.opengis.net/kml/2.2\">\n  <Document>\n    <name>", out);
  xml_escape(out, imei);
  fputs("</name>\n    <Placemark>\n      <name>", out);
  xml_escape(out, imei);
  fputs("</name>\n      <LineString>\n        <coordinates>", out);
  for (size_t i = 0; i < db_result_rows(r); i++) {
    fputs(i ? " " : "", out);
    xml_escape(out, val(r, i, COL_LON));
    fputc(',', out);
    xml_escape(out, val(r, i, COL_LAT));
  }
  fputs("</coordinates>\n      </LineString>\n    </Placemark>\n  </Document>\n</kml>\n", out);
}

static void write_geojson(FILE *out, const char *imei, const db_result_t *r) {
  size_t n = db_result_rows(r);
  fputs("{\"type\": \"Feature\", \"geometry\": {\"type\": \"LineString\", \"coordinates\": [", out);
  for (size_t i = 0; i < n; i++)
    fprintf(out, "%s[%s, %s]", i ? ", " : "", val(r, i, COL_LON), val(r, i, COL_LAT));
  fputs("]}, \"properties\": {\"imei\": ", out);
  output_json_string(imei, out);
  fputs(", \"times\": [", out);
  for (size_t i = 0; i < n; i++) {
    fputs(i ? ", " : "", out);
    output_json_string(val(r, i, COL_TIME), out);
  }
  fputs("]}}\n", out);
}

int cmd_export(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const char *imei = NULL, *from_s = NULL, *to_s = NULL, *format_s = NULL, *output = NULL,
             *database = NULL;
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    if (cli_option(argc, argv, &i, "--from", &v)) from_s = v ? v : "";
    else if (cli_option(argc, argv, &i, "--to", &v)) to_s = v ? v : "";
    else if (cli_option(argc, argv, &i, "--format", &v)) format_s = v ? v : "";
    else if (cli_option(argc, argv, &i, "--output", &v)) output = v ? v : "";
    else if (cli_option(argc, argv, &i, "--database", &v)) database = v ? v : "";
    else if (argv[i][0] != '-' && !imei) imei = argv[i];
    else {
      fprintf(stderr, "fleetarc export: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (!imei || !from_s || !to_s || !format_s) {
    fprintf(stderr, "fleetarc export: IMEI, --from, --to and --format are required\n");
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  export_format_t format;
  if (export_format_parse(format_s, &format) < 0) {
    fprintf(stderr, "fleetarc export: --format must be gpx, geojson, csv or kml, not '%s'\n",
            format_s);
    return CLI_EXIT_USAGE;
  }
  int64_t from, to;
  if (cli_parse_time_option("export", "--from", from_s, &from) < 0 ||
      cli_parse_time_option("export", "--to", to_s, &to) < 0)
    return CLI_EXIT_USAGE;
  if (to <= from) {
    fprintf(stderr, "fleetarc export: --to must be after --from\n");
    return CLI_EXIT_USAGE;
  }
  if (output && !*output) {
    fprintf(stderr, "fleetarc export: --output needs a FILE\n");
    return CLI_EXIT_USAGE;
  }

  char *conninfo = NULL;
  int rc = cli_database_conninfo(ctx, database, "export", &conninfo);
  if (rc < 0) return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
  int status = CLI_EXIT_FAILED;
  db_result_t *res = NULL;
  FILE *out = stdout;
  char from_p[24], to_p[24], err[1024];
  snprintf(from_p, sizeof from_p, "%" PRId64, from);
  snprintf(to_p, sizeof to_p, "%" PRId64, to);
  const char *params[3] = {imei, from_p, to_p};
  if (db_query(conninfo, export_sql, 3, params, &res, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc export: %s\n", err[0] ? err : "out of memory");
    goto out;
  }
  if (db_result_rows(res) == 0) {
    int unknown = cli_say_unknown("export", conninfo, imei, 0);
    if (unknown != 0) goto out; /* unknown (or the check failed): exit 1, no output */
  }
  if (output && !(out = fopen(output, "w"))) {
    fprintf(stderr, "fleetarc export: %s: %s\n", output, strerror(errno));
    out = stdout;
    goto out;
  }
  switch (format) {
    case EXPORT_GPX: write_gpx(out, imei, res); break;
    case EXPORT_KML: write_kml(out, imei, res); break;
    case EXPORT_GEOJSON: write_geojson(out, imei, res); break;
    case EXPORT_CSV:
      if (cli_print_result(res, OUTPUT_CSV, out) < 0) goto out;
  }
  if (fflush(out) != 0 || ferror(out)) {
    fprintf(stderr, "fleetarc export: cannot write %s\n", output ? output : "the output");
    goto out;
  }
  status = CLI_EXIT_OK;
out:
  if (out != stdout && fclose(out) != 0 && status == CLI_EXIT_OK) {
    fprintf(stderr, "fleetarc export: cannot write %s\n", output);
    status = CLI_EXIT_FAILED;
  }
  db_result_free(res);
  free(conninfo);
  return status;
}
