/* fleetarc's entry point: global options, then one command of cli/commands.c. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "net/http.h"
#include "util/coredump.h"
#include "util/version.h"

#define DEFAULT_CONFIG "/etc/fleetarc/fleetarc.yaml"

static void usage(FILE *out) {
  fprintf(out,
          "fleetarc %s: archive a fleet's GPS history from the Open API into PostgreSQL\n"
          "\n"
          "usage: fleetarc [-c FILE] COMMAND [options]\n"
          "       fleetarc COMMAND --help\n"
          "\n"
          "options:\n"
          "  -c, --config FILE  configuration (default: $FLEETARC_CONFIG, then %s)\n"
          "  --allow-core-dumps leave core dumps on, for debugging (by default the process\n"
          "                     is not dumpable and RLIMIT_CORE is 0: a core holds secrets)\n"
          "  -h, --help         this help\n"
          "  -V, --version      print the version\n"
          "\n"
          "commands:\n",
          fleetarc_version, DEFAULT_CONFIG);
  for (const cli_command_t *c = cli_commands; c->name; c++)
    fprintf(out, "  %-16s %s\n", c->name, c->summary);
  fprintf(out,
          "\n"
          "T is 2026-11-01, 2026-11-01T06:30:00Z, an ISO 8601 time with offset, or UNIX seconds;\n"
          "dates are UTC midnight, --to is exclusive.\n"
          "exit status: 0 done, 1 failed at run time, 2 bad usage or bad configuration.\n");
}

int main(int argc, char **argv) {
  cli_context_t ctx = {.config_path = NULL};
  bool allow_cores = false;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return CLI_EXIT_OK;
    } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      printf("fleetarc %s\n", fleetarc_version);
      return CLI_EXIT_OK;
    } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "fleetarc: %s needs a FILE\n", a);
        return CLI_EXIT_USAGE;
      }
      ctx.config_path = argv[++i];
    } else if (strncmp(a, "--config=", 9) == 0) {
      ctx.config_path = a + 9;
    } else if (strcmp(a, "--allow-core-dumps") == 0) {
      allow_cores = true;
    } else {
      fprintf(stderr, "fleetarc: unknown option '%s' (see fleetarc --help)\n", a);
      return CLI_EXIT_USAGE;
    }
  }
  /* Before the configuration, and so any secret, is read. */
  int hrc = coredump_disable(allow_cores);
  if (hrc != 0) fprintf(stderr, "fleetarc: warning: cannot turn core dumps off: %s\n", strerror(-hrc));
  if (i >= argc) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!ctx.config_path) ctx.config_path = getenv("FLEETARC_CONFIG");
  if (!ctx.config_path || !*ctx.config_path) ctx.config_path = DEFAULT_CONFIG;

  for (const cli_command_t *c = cli_commands; c->name; c++) {
    if (strcmp(c->name, argv[i]) != 0) continue;
    /* libcurl's global state, once, before any thread (the libuv pool) exists. */
    if (http_global_init() != 0) {
      fprintf(stderr, "fleetarc: cannot initialise libcurl\n");
      return CLI_EXIT_FAILED;
    }
    int rc = c->run(&ctx, argc - i, argv + i);
    http_global_cleanup();
    return rc;
  }
  fprintf(stderr, "fleetarc: unknown command '%s' (see fleetarc --help)\n", argv[i]);
  return CLI_EXIT_USAGE;
}
