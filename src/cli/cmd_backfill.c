/* `fleetarc backfill`: archive exactly [--from, --to) for the selected devices and
 * streams, resumable (its cursors are its own, keyed by the range), then exit. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archiver.h"
#include "cli/cli.h"
#include "config/config.h"
#include "util/timeparse.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc [-c FILE] backfill --from T --to T [--imei LIST] [--account NAME]\n"
          "                                   [--streams playback,alarms,mileage]\n"
          "\n"
          "Archives exactly [--from, --to) and exits. Resumable: run the same command again\n"
          "after an interruption and it goes on from what was committed (a backfill keeps\n"
          "cursors of its own per range, so the service's cursors are never moved by it).\n"
          "Alarms are those whose gpstime is in the range; mileage covers the completed\n"
          "UTC days that overlap it.\n"
          "\n"
          "  --from T           first second (inclusive)\n"
          "  --to T             end (exclusive); T is 2026-11-01, 2026-11-01T06:30:00Z,\n"
          "                     an ISO 8601 time with offset, or UNIX seconds\n"
          "  --imei LIST        comma-separated IMEIs (default: every device discovered)\n"
          "  --account NAME     only this configured account\n"
          "  --streams LIST     any of playback,alarms,mileage (default: archive.streams)\n"
          "  -h, --help         this help\n"
          "\n"
          "Progress goes to stderr (a bar on a terminal, a line every 10 s otherwise): the\n"
          "part of the range covered over every device stream, the streams complete and an\n"
          "ETA; then a summary. A range that yields nothing at all (e.g. before the\n"
          "platform's history) is said so.\n"
          "exit status: 0 complete, 1 incomplete (what is missing is listed), 2 bad usage\n"
          "or bad configuration\n");
}

static int parse_streams(const char *s, unsigned *out) {
  *out = 0;
  char *copy = strdup(s);
  if (!copy) return -1;
  int rc = 0;
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (strcmp(tok, "playback") == 0) *out |= STREAM_BIT(STREAM_PLAYBACK);
    else if (strcmp(tok, "alarms") == 0) *out |= STREAM_BIT(STREAM_ALARMS);
    else if (strcmp(tok, "mileage") == 0) *out |= STREAM_BIT(STREAM_MILEAGE);
    else rc = -1;
  }
  free(copy);
  return rc == 0 && *out ? 0 : -1;
}

int cmd_backfill(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const char *from_s = NULL, *to_s = NULL, *imei_s = NULL, *account = NULL, *streams_s = NULL;
  static const char *const names[] = {"--from", "--to", "--imei", "--account", "--streams"};
  const char **slots[] = {&from_s, &to_s, &imei_s, &account, &streams_s};
  for (int i = 1; i < argc; i++) {
    size_t k = 0;
    int r = 0;
    while (k < sizeof names / sizeof names[0] && !(r = cli_option("backfill", argc, argv, &i, names[k], slots[k])))
      k++;
    if (r < 0) return CLI_EXIT_USAGE;
    if (k == sizeof names / sizeof names[0]) {
      fprintf(stderr, "fleetarc backfill: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (!from_s || !to_s) {
    fprintf(stderr, "fleetarc backfill: --from and --to are required\n");
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  int64_t from, to;
  char err[TIMEPARSE_ERR_MAX];
  if (timeparse_time(from_s, &from, err, sizeof err) != 0) {
    fprintf(stderr, "fleetarc backfill: --from '%s': %s\n", from_s, err);
    return CLI_EXIT_USAGE;
  }
  if (timeparse_time(to_s, &to, err, sizeof err) != 0) {
    fprintf(stderr, "fleetarc backfill: --to '%s': %s\n", to_s, err);
    return CLI_EXIT_USAGE;
  }
  if (from >= to) {
    fprintf(stderr, "fleetarc backfill: --from must be before --to (--to is exclusive)\n");
    return CLI_EXIT_USAGE;
  }
  unsigned streams = 0;
  if (streams_s && parse_streams(streams_s, &streams) != 0) {
    fprintf(stderr, "fleetarc backfill: --streams '%s': expected a list of playback, alarms, mileage\n",
            streams_s);
    return CLI_EXIT_USAGE;
  }
  char *imei_copy = NULL;
  const char **imeis = NULL;
  size_t n_imeis = 0;
  int rc = CLI_EXIT_USAGE;
  config_t *cfg = NULL;
  if (imei_s) {
    imei_copy = strdup(imei_s);
    imeis = calloc(strlen(imei_s) / 2 + 2, sizeof *imeis);
    if (!imei_copy || !imeis) {
      rc = CLI_EXIT_FAILED;
      goto out;
    }
    for (char *save = NULL, *tok = strtok_r(imei_copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
      size_t len = strlen(tok), digits = strspn(tok, "0123456789");
      if (len == 0 || len > 20 || digits != len) {
        fprintf(stderr, "fleetarc backfill: --imei: '%s' is not an IMEI (1-20 digits)\n", tok);
        goto out;
      }
      imeis[n_imeis++] = tok;
    }
    if (n_imeis == 0) {
      fprintf(stderr, "fleetarc backfill: --imei: no IMEI given\n");
      goto out;
    }
  }
  rc = cli_config_load(ctx, "backfill", &cfg);
  if (rc != CLI_EXIT_OK) goto out;
  if (account && !config_account_find(cfg, account)) {
    fprintf(stderr, "fleetarc backfill: --account '%s' is not a configured account\n", account);
    rc = CLI_EXIT_USAGE;
    goto out;
  }
  if ((rc = cli_credentials(cfg, "backfill", account)) != CLI_EXIT_OK) goto out;
  archiver_options_t opt = {.mode = ARCHIVER_BACKFILL, .cfg = cfg,
                            .streams = streams ? streams : cfg->archive.streams,
                            .from = from, .to = to, .imeis = imeis, .n_imeis = n_imeis,
                            .account = account, .progress_bar = isatty(STDERR_FILENO) == 1};
  rc = archiver_run(&opt);
out:
  config_free(cfg);
  free(imeis);
  free(imei_copy);
  return rc;
}
