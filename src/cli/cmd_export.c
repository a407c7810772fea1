/* `fleetarc export IMEI[,IMEI...] | --all`: the stored tracks over [--from, --to), one track
 * per device named by its name and plate, as GPX 1.1 (speed and course in Garmin's
 * TrackPointExtension), KML 2.2 (gx:Track with times), CSV (units in the header) or a
 * GeoJSON FeatureCollection (RFC 7946), on stdout or into --output FILE. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "db/query.h"

/* $1: comma-separated IMEIs or NULL (every device); $2, $3: UNIX seconds; $4: time zone.
 * Rows in (imei, gpstime) order; utc is for GPX (UTC by its schema), time for the rest. */
static const char export_sql[] =
    "SELECT p.imei, d.devicename, d.platenumber, "
    "coalesce(nullif(concat_ws(' ', nullif(d.devicename, ''), '(' || nullif(d.platenumber, '') || ')'), ''), p.imei) AS track, "
    "to_char(p.gpstime AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS utc, "
    "fleetarc.iso_time(p.gpstime, $4::text) AS time, "
    "p.longitude, p.latitude, p.speed, p.course, round(p.speed / 3.6, 3) AS speed_ms "
    "FROM fleetarc.positions p LEFT JOIN fleetarc.devices d ON d.imei = p.imei "
    "WHERE ($1::text IS NULL OR p.imei = ANY (string_to_array($1, ','))) "
    "AND p.gpstime >= to_timestamp($2::float8) AND p.gpstime < to_timestamp($3::float8) "
    "ORDER BY p.imei, p.gpstime";

enum { COL_IMEI, COL_NAME, COL_PLATE, COL_TRACK, COL_UTC, COL_TIME, COL_LON, COL_LAT, COL_SPEED,
       COL_COURSE, COL_SPEED_MS };

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
          "usage: fleetarc export IMEI[,IMEI...] | --all --from T --to T\n"
          "                       --format gpx|geojson|csv|kml [--tz ZONE]\n"
          "                       [--output FILE] [--database CONNINFO]\n"
          "\n"
          "Writes the stored tracks in [--from, --to) (--to is exclusive), every stored\n"
          "point in time order, one track per device named \"NAME (PLATE)\" (the IMEI when\n"
          "the device has no name):\n"
          "  gpx      GPX 1.1, a trk per device; speed (m/s) and course (degrees) in\n"
          "           Garmin's TrackPointExtension v2 and as GPX 1.0's <speed> and\n"
          "           <course> (what gpsbabel reads); times in UTC (GPX requires it)\n"
          "  geojson  a FeatureCollection (RFC 7946): per device a LineString, or a Point\n"
          "           for a single point; properties: imei, name, plate, times,\n"
          "           speeds_kmh, courses_deg. No point: no feature\n"
          "  csv      imei,name,plate,time,longitude_deg,latitude_deg,speed_kmh,course_deg\n"
          "  kml      KML 2.2, a Placemark per device with a gx:Track (when + coord) and\n"
          "           the speeds and courses as its ExtendedData\n"
          "An empty export (no stored point) is still a valid document, and says so on\n"
          "stderr.\n"
          "\n"
          "options:\n"
          "  --all                every device with a stored point in the range\n"
          "  --from T, --to T     2026-11-01, 2026-11-01T06:30:00Z, ISO 8601 with offset,\n"
          "                       or UNIX seconds\n"
          "  --tz ZONE            IANA zone of the printed times (csv, geojson, kml);\n"
          "                       default: reports.timezone of the configuration, else UTC\n"
          "  --output FILE        write there instead of stdout\n"
          "  --database CONNINFO  as for `fleetarc report`;\n"
          CLI_DATABASE_PASSWORD_HELP
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

/* The rows [*start, end) of the device at *start: returns end. */
static size_t track_end(const db_result_t *r, size_t start) {
  size_t n = db_result_rows(r), i = start;
  while (i < n && strcmp(val(r, i, COL_IMEI), val(r, start, COL_IMEI)) == 0) i++;
  return i;
}

static void write_gpx(FILE *out, const db_result_t *r) {
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<gpx version=\"1.1\" creator=\"fleetarc\" xmlns=\"http://www.topografix.com/GPX/1/1\"\n"
        "     xmlns:gpxtpx=\"http://www.garmin.com/xmlschemas/TrackPointExtension/v2\">\n",
        out);
  for (size_t s = 0, e; s < db_result_rows(r); s = e) {
    e = track_end(r, s);
    fputs("  <trk>\n    <name>", out);
    xml_escape(out, val(r, s, COL_TRACK));
    fputs("</name>\n    <desc>IMEI ", out);
    xml_escape(out, val(r, s, COL_IMEI));
    fputs("</desc>\n    <trkseg>\n", out);
    for (size_t i = s; i < e; i++) {
      fputs("      <trkpt lat=\"", out);
      xml_escape(out, val(r, i, COL_LAT));
      fputs("\" lon=\"", out);
      xml_escape(out, val(r, i, COL_LON));
      fputs("\"><time>", out);
      xml_escape(out, val(r, i, COL_UTC));
      /* GPX 1.0's speed and course too: gpsbabel (1.8) and other readers take only
       * those, strict GPX 1.1 validators reject them */
      fputs("</time><speed>", out);
      xml_escape(out, val(r, i, COL_SPEED_MS));
      fputs("</speed><course>", out);
      xml_escape(out, val(r, i, COL_COURSE));
      fputs("</course><extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>", out);
      xml_escape(out, val(r, i, COL_SPEED_MS));
      fputs("</gpxtpx:speed><gpxtpx:course>", out);
      xml_escape(out, val(r, i, COL_COURSE));
      fputs("</gpxtpx:course></gpxtpx:TrackPointExtension></extensions></trkpt>\n", out);
    }
    fputs("    </trkseg>\n  </trk>\n", out);
  }
  fputs("</gpx>\n", out);
}

static void write_kml(FILE *out, const db_result_t *r) {
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<kml xmlns=\"http://www.opengis.net/kml/2.2\" xmlns:gx=\"http://www.google.com/kml/ext/2.2\">\n"
        "  <Document>\n    <name>fleetarc</name>\n"
        "    <Schema id=\"fleetarc\">\n"
        "      <gx:SimpleArrayField name=\"speed_kmh\" type=\"float\"/>\n"
        "      <gx:SimpleArrayField name=\"course_deg\" type=\"float\"/>\n"
        "    </Schema>\n",
        out);
  for (size_t s = 0, e; s < db_result_rows(r); s = e) {
    e = track_end(r, s);
    fputs("    <Placemark>\n      <name>", out);
    xml_escape(out, val(r, s, COL_TRACK));
    fputs("</name>\n      <description>IMEI ", out);
    xml_escape(out, val(r, s, COL_IMEI));
    fputs("</description>\n      <gx:Track>\n", out);
    for (size_t i = s; i < e; i++) {
      fputs("        <when>", out);
      xml_escape(out, val(r, i, COL_TIME));
      fputs("</when>\n", out);
    }
    for (size_t i = s; i < e; i++) {
      fputs("        <gx:coord>", out);
      xml_escape(out, val(r, i, COL_LON));
      fputc(' ', out);
      xml_escape(out, val(r, i, COL_LAT));
      fputs(" 0</gx:coord>\n", out);
    }
    fputs("        <ExtendedData>\n          <SchemaData schemaUrl=\"#fleetarc\">\n", out);
    static const struct { const char *name; int col; } arrays[] = {
      {"speed_kmh", COL_SPEED}, {"course_deg", COL_COURSE}};
    for (size_t a = 0; a < 2; a++) {
      fprintf(out, "            <gx:SimpleArrayData name=\"%s\">\n", arrays[a].name);
      for (size_t i = s; i < e; i++) {
        fputs("              <gx:value>", out);
        xml_escape(out, val(r, i, arrays[a].col));
        fputs("</gx:value>\n", out);
      }
      fputs("            </gx:SimpleArrayData>\n", out);
    }
    fputs("          </SchemaData>\n        </ExtendedData>\n      </gx:Track>\n    </Placemark>\n",
          out);
  }
  fputs("  </Document>\n</kml>\n", out);
}

static void json_array(FILE *out, const db_result_t *r, size_t s, size_t e, int col, int str) {
  fputc('[', out);
  for (size_t i = s; i < e; i++) {
    fputs(i > s ? ", " : "", out);
    if (str) output_json_string(val(r, i, col), out);
    else fputs(val(r, i, col), out);
  }
  fputc(']', out);
}

static void json_nullable(FILE *out, const db_result_t *r, size_t row, int col) {
  const char *v = db_result_value(r, row, (size_t)col);
  if (v) output_json_string(v, out);
  else fputs("null", out);
}

static void write_geojson(FILE *out, const db_result_t *r) {
  fputs("{\"type\": \"FeatureCollection\", \"features\": [", out);
  for (size_t s = 0, e; s < db_result_rows(r); s = e) {
    e = track_end(r, s);
    fputs(s ? ",\n  " : "\n  ", out);
    if (e - s == 1) { /* RFC 7946 3.1.4: a LineString needs two or more positions */
      fprintf(out, "{\"type\": \"Feature\", \"geometry\": {\"type\": \"Point\", \"coordinates\": [%s, %s]}",
              val(r, s, COL_LON), val(r, s, COL_LAT));
    } else {
      fputs("{\"type\": \"Feature\", \"geometry\": {\"type\": \"LineString\", \"coordinates\": [", out);
      for (size_t i = s; i < e; i++)
        fprintf(out, "%s[%s, %s]", i > s ? ", " : "", val(r, i, COL_LON), val(r, i, COL_LAT));
      fputs("]}", out);
    }
    fputs(", \"properties\": {\"imei\": ", out);
    output_json_string(val(r, s, COL_IMEI), out);
    fputs(", \"name\": ", out);
    json_nullable(out, r, s, COL_NAME);
    fputs(", \"plate\": ", out);
    json_nullable(out, r, s, COL_PLATE);
    fputs(", \"times\": ", out);
    json_array(out, r, s, e, COL_TIME, 1);
    fputs(", \"speeds_kmh\": ", out);
    json_array(out, r, s, e, COL_SPEED, 0);
    fputs(", \"courses_deg\": ", out);
    json_array(out, r, s, e, COL_COURSE, 0);
    fputs("}}", out);
  }
  fputs(db_result_rows(r) ? "\n]}\n" : "]}\n", out);
}

/* CSV with the units in the header; the query's own column names are for the code. */
static const char *csv_cell(const void *src, size_t row, size_t col) {
  static const int map[] = {COL_IMEI, COL_NAME, COL_PLATE, COL_TIME, COL_LON, COL_LAT, COL_SPEED,
                            COL_COURSE};
  return db_result_value(src, row, (size_t)map[col]);
}

static int write_csv(FILE *out, const db_result_t *r) {
  static const output_column_t cols[] = {
    {"imei", OUTPUT_STR},          {"name", OUTPUT_STR},         {"plate", OUTPUT_STR},
    {"time", OUTPUT_STR},          {"longitude_deg", OUTPUT_NUM}, {"latitude_deg", OUTPUT_NUM},
    {"speed_kmh", OUTPUT_NUM},     {"course_deg", OUTPUT_NUM}};
  return output_write_cells(cols, 8, db_result_rows(r), csv_cell, r, OUTPUT_CSV, out);
}

int cmd_export(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const char *imeis = NULL, *from_s = NULL, *to_s = NULL, *format_s = NULL, *output = NULL,
             *database = NULL, *tz_s = NULL;
  int all = 0;
  for (int i = 1; i < argc; i++) {
    int r;
    if ((r = cli_option("export", argc, argv, &i, "--from", &from_s)) ||
        (r = cli_option("export", argc, argv, &i, "--to", &to_s)) ||
        (r = cli_option("export", argc, argv, &i, "--format", &format_s)) ||
        (r = cli_option("export", argc, argv, &i, "--output", &output)) ||
        (r = cli_option("export", argc, argv, &i, "--database", &database)) ||
        (r = cli_option("export", argc, argv, &i, "--tz", &tz_s))) {
      if (r < 0) return CLI_EXIT_USAGE;
    } else if (strcmp(argv[i], "--all") == 0) all = 1;
    else if (argv[i][0] != '-' && !imeis) imeis = argv[i];
    else {
      fprintf(stderr, "fleetarc export: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (!!imeis == all || !from_s || !to_s || !format_s) {
    fprintf(stderr, "fleetarc export: IMEI[,IMEI...] or --all, --from, --to and --format are "
                    "required\n");
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (imeis && (!*imeis || strspn(imeis, "0123456789,") != strlen(imeis))) {
    fprintf(stderr, "fleetarc export: IMEI takes comma-separated IMEIs (digits)\n");
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
  if (tz_s && !cli_timezone_valid(tz_s)) {
    fprintf(stderr, "fleetarc export: --tz takes an IANA time zone name (e.g. Europe/Berlin)\n");
    return CLI_EXIT_USAGE;
  }

  char *conninfo = NULL, *tz_conf = NULL;
  int rc = cli_report_settings(ctx, database, "export", &conninfo, tz_s ? NULL : &tz_conf);
  if (rc < 0) return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
  int status = CLI_EXIT_FAILED;
  db_result_t *res = NULL;
  FILE *out = stdout;
  char from_p[24], to_p[24], err[1024];
  snprintf(from_p, sizeof from_p, "%" PRId64, from);
  snprintf(to_p, sizeof to_p, "%" PRId64, to);
  const char *params[4] = {imeis, from_p, to_p, tz_s ? tz_s : tz_conf};
  if (db_query(conninfo, export_sql, 4, params, &res, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc export: %s\n", err[0] ? err : "out of memory");
    goto out;
  }
  if (db_result_rows(res) == 0) {
    /* rows 1: the empty export is said below, once */
    int unknown = cli_say_unknown("export", conninfo, all ? NULL : imeis, 1);
    if (unknown != 0) goto out; /* unknown (or the check failed): exit 1, no output */
  }
  if (output && !(out = fopen(output, "w"))) {
    fprintf(stderr, "fleetarc export: %s: %s\n", output, strerror(errno));
    out = stdout;
    goto out;
  }
  if (db_result_rows(res) == 0)
    fprintf(stderr, "fleetarc export: no stored point of %s in [%s, %s): the export is empty\n",
            all ? "any device" : imeis, from_s, to_s);
  switch (format) {
    case EXPORT_GPX: write_gpx(out, res); break;
    case EXPORT_KML: write_kml(out, res); break;
    case EXPORT_GEOJSON: write_geojson(out, res); break;
    case EXPORT_CSV:
      if (write_csv(out, res) < 0) goto out;
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
  free(tz_conf);
  return status;
}
