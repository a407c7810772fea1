/* `fleetarc retention [--dry-run]`: shows (or applies) the configured retention: whole
 * monthly partitions of positions and alarms older than retention.* are dropped, never
 * rows deleted (ops/retention.h, sql/060_retention.sql); refused rows kept for the
 * operator (fleetarc.rejected) are deleted after retention.rejected. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "config/config.h"
#include "ops/retention.h"
#include "util/timeparse.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc [-c FILE] retention [--dry-run] [--database CONNINFO]\n"
          "\n"
          "Drops the monthly partitions of positions and alarms whose every row is older\n"
          "than retention.positions / retention.alarms of the configuration (whole\n"
          "partitions: DETACH + DROP, never a DELETE), deletes the rows of fleetarc.rejected\n"
          "(rows the database refused, kept for the operator) last refused longer ago than\n"
          "retention.rejected (90d unless set), then creates the partitions of the next two\n"
          "months. `fleetarc run` does the same every retention.interval.\n"
          "\n"
          "options:\n"
          "  --dry-run            list what would be dropped; change nothing\n"
          "  --database CONNINFO  instead of the configuration's database.conninfo;\n"
          CLI_DATABASE_PASSWORD_HELP
          "  -h, --help           this help\n"
          "exit status: 0 done (or retention off), 1 database error, 2 bad usage or\n"
          "configuration.\n");
}

int cmd_retention(const cli_context_t *ctx, int argc, char **argv) {
  bool dry_run = false;
  const char *conninfo = NULL;
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int r;
    if (strcmp(argv[i], "--dry-run") == 0) {
      dry_run = true;
    } else if ((r = cli_option("retention", argc, argv, &i, "--database", &v))) {
      if (r < 0 || cli_database_option_check("retention", v) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
      conninfo = v;
    } else {
      fprintf(stderr, "fleetarc retention: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  config_t *cfg = NULL;
  int rc = cli_config_load(ctx, "retention", &cfg);
  if (rc != CLI_EXIT_OK) return rc;
  char d[72];
  printf("retention: positions %s, alarms %s, rejected rows %s%s\n",
         cfg->retention.positions_ms ? timeparse_format_duration(cfg->retention.positions_ms, d, sizeof d) : "kept forever",
         cfg->retention.alarms_ms ? timeparse_format_duration(cfg->retention.alarms_ms, d + 24, sizeof d - 24) : "kept forever",
         timeparse_format_duration(cfg->retention.rejected_ms, d + 48, sizeof d - 48),
         dry_run ? " (dry run)" : "");
  retention_report_t rep;
  char err[512];
  rc = retention_apply(cfg, conninfo, (int64_t)time(NULL), dry_run, &rep, err, sizeof err);
  if (rc) {
    fprintf(stderr, "fleetarc retention: %s\n", err);
    config_free(cfg);
    return CLI_EXIT_FAILED;
  }
  for (size_t i = 0; i < rep.n; i++)
    printf("%s %s %s [%s, %s)\n", dry_run ? "would drop" : "dropped", rep.drops[i].table,
           rep.drops[i].partition, rep.drops[i].range_start, rep.drops[i].range_end);
  if (rep.n == 0) printf("nothing to drop\n");
  printf("%s rejected rows: %lld\n", dry_run ? "would delete" : "deleted", rep.rejected);
  if (!dry_run) printf("partitions created ahead: %d\n", rep.created);
  retention_report_free(&rep);
  config_free(cfg);
  return CLI_EXIT_OK;
}
