/* `fleetarc migrate`: create or upgrade the database schema from the migrations embedded
 * in the binary (db/migrate.h). Idempotent: a second run applies nothing. */
#include <stdio.h>
#include <string.h>

#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "db/migrate.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc migrate [--database CONNINFO]\n"
          "\n"
          "Creates or upgrades the schema `fleetarc` (idempotent; one transaction).\n"
          "\n"
          "options:\n"
          "  --database CONNINFO  libpq conninfo or postgresql:// URI (default: the\n"
          "                       configuration's database.conninfo when -c FILE,\n"
          "                       $FLEETARC_CONFIG or the default file gives one,\n"
          "                       else the PG* environment variables);\n"
          CLI_DATABASE_PASSWORD_HELP
          "  -h, --help           this help\n"
          "exit status: 0 done, 1 database error, 2 bad usage.\n");
}

int cmd_migrate(const cli_context_t *ctx, int argc, char **argv) {
  const char *conninfo = NULL;
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = cli_option("migrate", argc, argv, &i, "--database", &conninfo);
    if (r) {
      if (r < 0 || cli_database_option_check("migrate", conninfo) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    } else {
      fprintf(stderr, "fleetarc migrate: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  /* Without --database: the configuration's conninfo when a configuration is there
   * (given by -c or $FLEETARC_CONFIG, or the default file exists), else the PG* env. */
  config_t *cfg = NULL;
  if (!conninfo && (ctx->config_path && access(ctx->config_path, F_OK) == 0)) {
    int rc = cli_config_load(ctx, "migrate", &cfg);
    if (rc != CLI_EXIT_OK) return rc;
    conninfo = cfg->database.conninfo;
  }

  size_t applied = 0;
  char err[512];
  if (db_migrate(conninfo, &applied, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc migrate: %s\n", err);
    config_free(cfg);
    return CLI_EXIT_FAILED;
  }
  config_free(cfg);
  if (applied == 0)
    printf("schema up to date\n");
  else
    printf("applied %zu migration%s\n", applied, applied == 1 ? "" : "s");
  return CLI_EXIT_OK;
}
