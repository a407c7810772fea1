/* `fleetarc check`: validate the configuration and show it resolved (secrets masked).
 * The database and login checks come with the db and net modules; until then only
 * `--offline` can succeed, and the online form says plainly what it did not check. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "util/buf.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc [-c FILE] check [--offline]\n"
          "\n"
          "Validates the configuration; without --offline also reaches the database and logs\n"
          "in to every account.\n"
          "\n"
          "  --offline   only validate the configuration and print it resolved, defaults\n"
          "              filled in and secrets masked\n"
          "  -h, --help  this help\n"
          "\n"
          "exit status: 0 valid, 1 a check failed (or is not built yet), 2 bad usage or\n"
          "bad configuration\n");
}

int cmd_check(const cli_context_t *ctx, int argc, char **argv) {
  bool offline = false;
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--offline")) {
      offline = true;
    } else {
      fprintf(stderr, "fleetarc check: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }

  buf_t errors = BUF_INIT;
  config_t *cfg = NULL;
  int rc = config_load_file(ctx->config_path, &cfg, &errors);
  if (rc != 0) {
    if (errors.len) fputs(errors.data, stderr);
    else fprintf(stderr, "%s: %s\n", ctx->config_path, strerror(-rc));
    fprintf(stderr, "fleetarc check: the configuration %s is not valid\n", ctx->config_path);
    buf_free(&errors);
    return rc == -ENOMEM ? CLI_EXIT_FAILED : CLI_EXIT_USAGE;
  }
  buf_free(&errors);

  int status = CLI_EXIT_OK;
  if (offline) {
    config_print(cfg, stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) status = CLI_EXIT_FAILED;
  } else {
    fprintf(stderr,
            "fleetarc check: the configuration %s is valid (%zu account%s)\n"
            "fleetarc check: the database and login checks are not built yet in this version;\n"
            "fleetarc check: nothing beyond the configuration was checked (use --offline)\n",
            ctx->config_path, cfg->n_accounts, cfg->n_accounts == 1 ? "" : "s");
    status = CLI_EXIT_FAILED;
  }
  config_free(cfg);
  return status;
}
