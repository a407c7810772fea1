/* `fleetarc check`: validate the configuration (the config issue fills this in). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_check(const cli_context_t *ctx, int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "fleetarc check: not built yet (config %s)\n", ctx->config_path);
  return CLI_EXIT_FAILED;
}
