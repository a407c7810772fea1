/* `fleetarc migrate`: create or upgrade the database schema from the migrations embedded
 * in the binary (db/migrate.h). Idempotent: a second run applies nothing. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "db/migrate.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc migrate [--database CONNINFO]\n"
          "\n"
          "Creates or upgrades the schema `fleetarc` (idempotent; one transaction).\n"
          "\n"
          "options:\n"
          "  --database CONNINFO  libpq conninfo or postgresql:// URI\n"
          "                       (default: the PG* environment variables)\n"
          "  -h, --help           this help\n"
          "exit status: 0 done, 1 database error, 2 bad usage.\n");
}

int cmd_migrate(const cli_context_t *ctx, int argc, char **argv) {
  (void)ctx;
  const char *conninfo = NULL;
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--database") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "fleetarc migrate: --database needs a CONNINFO\n");
        return CLI_EXIT_USAGE;
      }
      conninfo = argv[++i];
    } else if (strncmp(argv[i], "--database=", 11) == 0) {
      conninfo = argv[i] + 11;
    } else {
      fprintf(stderr, "fleetarc migrate: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  /* TODO(merge): when --database is absent, take database.conninfo from the configuration
   * (ctx->config_path, loaded by src/config/) here, before falling back to libpq's PG*
   * defaults. Until the config loader is merged, NULL means "PG* environment". */

  size_t applied = 0;
  char err[512];
  if (db_migrate(conninfo, &applied, err, sizeof err) < 0) {
    fprintf(stderr, "fleetarc migrate: %s\n", err);
    return CLI_EXIT_FAILED;
  }
  if (applied == 0)
    printf("schema up to date\n");
  else
    printf("applied %zu migration%s\n", applied, applied == 1 ? "" : "s");
  return CLI_EXIT_OK;
}
