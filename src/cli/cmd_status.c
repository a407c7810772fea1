/* `fleetarc status`: what is archived, from the database alone (fleetarc.coverage and, for
 * daily mileage, fleetarc.cursors): per account and stream, the devices, how many have
 * anything covered, from when and up to when all of them are covered, the gaps between
 * covered intervals, and the lag of the least advanced device. Printed by the shared
 * printer (table, CSV or JSON). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "db/query.h"

#define ISO(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* $1: one account's name or NULL for all. A device counts for the account that lists it
 * (fleetarc.devices, not removed). covered_to: the earliest of the devices' latest
 * covered second (every device is archived up to it); gaps: holes between a device's
 * covered intervals, summed; lag_s: now - covered_to. Mileage: its cursor is the next
 * day to fetch. */
static const char status_sql[] =
  "WITH d AS (SELECT imei, account FROM fleetarc.devices"
  "           WHERE removed_at IS NULL AND ($1::text IS NULL OR account = $1)),"
  " s(stream) AS (VALUES ('playback'), ('alarms'), ('mileage')),"
  " c AS (SELECT imei, stream, \"from\", \"to\" FROM fleetarc.coverage"
  "       UNION ALL SELECT imei, 'mileage', NULL, cursor - interval '1 second'"
  "       FROM fleetarc.cursors WHERE stream = 'mileage'),"
  " per AS (SELECT d.account, d.imei, s.stream, min(c.\"from\") AS first_from,"
  "         max(c.\"to\") AS last_to, greatest(count(c.\"to\") - 1, 0) AS gaps"
  "         FROM d CROSS JOIN s LEFT JOIN c ON c.imei = d.imei AND c.stream = s.stream"
  "         GROUP BY d.account, d.imei, s.stream),"
  " gp AS (SELECT g.imei, 'playback'::text AS stream,"
  "        count(*) FILTER (WHERE g.healed_at IS NULL) AS open,"
  "        count(*) FILTER (WHERE g.healed_at IS NOT NULL) AS healed,"
  "        sum(g.recovered) AS recovered FROM fleetarc.gaps g GROUP BY g.imei)"
  " SELECT account, stream, count(*) AS devices, count(last_to) AS covered,"
  " " ISO("min(first_from)") " AS covered_from,"
  " CASE WHEN count(last_to) = count(*) THEN " ISO("min(last_to)") " END AS covered_to,"
  " sum(gaps)::bigint AS gaps,"
  " CASE WHEN count(last_to) = count(*) THEN"
  "   greatest(extract(epoch FROM now() - min(last_to)), 0)::bigint END AS lag_s,"
  " CASE WHEN stream = 'playback' THEN coalesce(sum(gp.open), 0)::bigint END AS late_open,"
  " CASE WHEN stream = 'playback' THEN coalesce(sum(gp.healed), 0)::bigint END AS late_healed,"
  " CASE WHEN stream = 'playback' THEN coalesce(sum(gp.recovered), 0)::bigint END"
  "   AS late_recovered,"
  " (SELECT l.holder FROM fleetarc.leases l WHERE l.account = per.account"
  "  AND l.expires_at > now()) AS holder"
  " FROM per LEFT JOIN gp USING (imei, stream) GROUP BY account, stream"
  " ORDER BY account, array_position(ARRAY['playback', 'alarms', 'mileage'], stream)";

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc status [--account NAME] [--format table|csv|json] [--database CONNINFO]\n"
          "\n"
          "What is archived, read from the database (the view fleetarc.coverage): one row\n"
          "per account and stream (playback, alarms, mileage) with\n"
          "  devices       the account's devices (not removed)\n"
          "  covered       how many of them have anything archived\n"
          "  covered_from  the earliest second archived\n"
          "  covered_to    every device is archived up to this second (empty while some\n"
          "                device has nothing yet)\n"
          "  gaps          holes between archived intervals, all devices together (a backfill\n"
          "                of an older range leaves one until `backfill` of the hole)\n"
          "  lag_s         seconds from covered_to to now\n"
          "  late_open     playback: silences of a moving device's track waiting to be\n"
          "                asked again for fixes uploaded late (archive.gap_settle)\n"
          "  late_healed   playback: such windows asked again and closed (fleetarc.gaps)\n"
          "  late_recovered  playback: positions those asks stored\n"
          "  holder        the instance working the account now (cluster.enabled: its\n"
          "                unexpired lease in fleetarc.leases), else empty\n"
          "\n"
          "options:\n"
          "  --account NAME       only this account's devices\n"
          "  --format F           table (default), csv (RFC 4180) or json\n"
          "  --database CONNINFO  libpq conninfo or postgresql:// URI (default: the\n"
          "                       configuration's database.conninfo when -c FILE or\n"
          "                       $FLEETARC_CONFIG is given, else the PG* variables)\n"
          "  -h, --help           this help\n"
          "Times are printed in UTC. exit status: 0 done, 1 database error, 2 bad usage.\n");
}

int cmd_status(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const char *account = NULL, *format_s = "table", *database = NULL;
  for (int i = 1; i < argc; i++) {
    int r;
    if ((r = cli_option("status", argc, argv, &i, "--account", &account)) ||
        (r = cli_option("status", argc, argv, &i, "--format", &format_s)) ||
        (r = cli_option("status", argc, argv, &i, "--database", &database))) {
      if (r < 0) return CLI_EXIT_USAGE;
    } else {
      fprintf(stderr, "fleetarc status: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  output_format_t format;
  if (output_format_parse(format_s, &format) < 0) {
    fprintf(stderr, "fleetarc status: --format must be table, csv or json, not '%s'\n", format_s);
    return CLI_EXIT_USAGE;
  }
  if (account && !*account) {
    fprintf(stderr, "fleetarc status: --account needs a name\n");
    return CLI_EXIT_USAGE;
  }
  char *conninfo = NULL;
  int rc = cli_database_conninfo(ctx, database, "status", &conninfo);
  if (rc < 0) return rc == -EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
  const char *params[1] = {account};
  db_result_t *res = NULL;
  char err[1024];
  int status = CLI_EXIT_FAILED;
  if (db_query(conninfo, status_sql, 1, params, &res, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc status: %s\n", err[0] ? err : "out of memory");
    goto out;
  }
  if (cli_print_result(res, format, stdout) < 0 || fflush(stdout) != 0) {
    fprintf(stderr, "fleetarc status: cannot write the output\n");
    goto out;
  }
  status = CLI_EXIT_OK;
out:
  db_result_free(res);
  free(conninfo);
  return status;
}
