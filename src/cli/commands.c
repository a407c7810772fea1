/* The command table: the commands of README.md's "Commands", in the order `--help` lists
 * them; every entry has its run function. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "util/buf.h"
#include "util/log.h"

const cli_command_t cli_commands[] = {
  {"run", "the archive service, until SIGINT/SIGTERM", cmd_run},
  {"backfill", "archive --from T --to T for the selected devices and streams, then exit", cmd_backfill},
  {"migrate", "create or upgrade the database schema (idempotent)", cmd_migrate},
  {"check", "validate the configuration, reach the database, log in to every account", cmd_check},
  {"status", "per account and stream: devices, covered up to, gaps, lag (from the database)", cmd_status},
  {"report", "trips, stops, distance, alarms, gaps, latest, route, speeding or summary over --from T --to T", cmd_report},
  {"export", "stored tracks of devices (or --all) as gpx, geojson, csv or kml", cmd_export},
  {"retention", "drop whole monthly partitions older than retention.* (--dry-run shows)", cmd_retention},
  {"devices", "list the devices of an account (API read)", cmd_devices},
  {"track", "latest position of devices (API read)", cmd_track},
  {"playback", "a device's track over a range, all pages (API read)", cmd_playback},
  {"alarms", "a device's alarms over a range, all pages (API read)", cmd_alarms},
  {"mileage", "devices' mileage over a range (API read)", cmd_mileage},
  {"send-command", "send a command to a device and wait for its answer", cmd_send_command},
  {"geofence-create", "create a circular geofence for a device", cmd_geofence_create},
  {"message", "send a message to accounts", cmd_message},
  {"user", "info, list, block, unblock or set-password of an account", cmd_user},
  {NULL, NULL, NULL},
};

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) return 0;
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  }
  return 0;
}

int cli_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return 0;
  if (argv[*i][n] == '=') {
    *value = argv[*i] + n + 1;
    return 1;
  }
  if (argv[*i][n] != '\0') return 0; /* --fromage is not --from */
  if (*i + 1 >= argc) {
    fprintf(stderr, "fleetarc %s: %s needs a value (see fleetarc %s --help)\n", cmd, name, cmd);
    return -1;
  }
  *value = argv[++*i];
  return 1;
}

int cli_config_read(const cli_context_t *ctx, const char *command, struct config **out) {
  buf_t errors = BUF_INIT;
  *out = NULL;
  int rc = config_load_file(ctx->config_path, out, &errors);
  if (rc != 0) {
    if (errors.len) fputs(errors.data, stderr);
    else fprintf(stderr, "%s: %s\n", ctx->config_path, strerror(-rc));
    fprintf(stderr, "fleetarc %s: the configuration %s is not valid\n", command, ctx->config_path);
  }
  buf_free(&errors);
  if (rc == 0) return CLI_EXIT_OK;
  return rc == -ENOMEM ? CLI_EXIT_FAILED : CLI_EXIT_USAGE;
}

int cli_credentials(const struct config *cfg, const char *command, const char *account) {
  buf_t errors = BUF_INIT;
  int rc = config_credentials_check(cfg, account, &errors);
  if (rc == 0) return CLI_EXIT_OK;
  if (errors.len) fputs(errors.data, stderr);
  buf_free(&errors);
  fprintf(stderr, "fleetarc %s: the password of an account cannot be had here (only the commands "
          "that log in need it; see password_file in fleetarc.yaml(5))\n", command);
  return rc == -ENOMEM ? CLI_EXIT_FAILED : CLI_EXIT_USAGE;
}

int cli_config_load(const cli_context_t *ctx, const char *command, struct config **out) {
  int st = cli_config_read(ctx, command, out);
  if (st != CLI_EXIT_OK) return st;
  log_set_level((*out)->log.level);
  log_set_format((*out)->log.format);
  return CLI_EXIT_OK;
}
