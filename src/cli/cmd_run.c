/* `fleetarc run`: the archive service (archive/archiver.h in run mode) until SIGINT or
 * SIGTERM; exits 0 after a clean stop. */
#include <stdio.h>
#include <string.h>

#include "archive/archiver.h"
#include "cli/cli.h"
#include "config/config.h"
#include "ops/service.h"
#include "util/buf.h"
#include "util/log.h"

/* What the configuration exposes (config_warnings), one warning each, at start. */
static void log_config_warnings(const config_t *cfg) {
  buf_t w = BUF_INIT;
  if (config_warnings(cfg, &w) > 0 && w.data) {
    for (const char *p = w.data; *p;) {
      size_t n = strcspn(p, "\n");
      log_warn("config: %.*s", (int)n, p);
      p += n + (p[n] == '\n');
    }
  }
  buf_free(&w);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc [-c FILE] run\n"
          "\n"
          "The archive service: discovers the devices of every configured account (and of\n"
          "its sub-accounts), polls /api/track, and archives playback, alarms and daily\n"
          "mileage into PostgreSQL from each device's committed cursor (new devices from\n"
          "archive.lookback ago), until SIGINT or SIGTERM. A restart resumes from the\n"
          "committed cursors: nothing is lost and nothing stored twice.\n"
          "\n"
          "With metrics.listen set it serves GET /metrics (Prometheus) and GET /healthz.\n"
          "Under systemd (Type=notify) it reports READY=1, STATUS= and WATCHDOG=1. SIGHUP\n"
          "re-reads the configuration and applies it without losing work: accounts added\n"
          "or removed, intervals, lookback, streams, batches, rate limits, log.*; what the\n"
          "running clients hold (api.base_url, database.conninfo...) is logged as needing\n"
          "a restart; a bad file is rejected and the running configuration kept. Every\n"
          "retention.interval it drops expired partitions (retention.*) and creates the\n"
          "next months'.\n"
          "\n"
          "  -h, --help  this help\n"
          "\n"
          "exit status: 0 stopped by a signal, 1 failed at run time (e.g. the database\n"
          "unreachable at startup), 2 bad usage or bad configuration\n");
}

int cmd_run(const cli_context_t *ctx, int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (argc > 1) {
    fprintf(stderr, "fleetarc run: unknown argument '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  config_t *cfg = NULL;
  int rc = cli_config_load(ctx, "run", &cfg);
  if (rc != CLI_EXIT_OK) return rc;
  log_config_warnings(cfg);
  if ((rc = cli_credentials(cfg, "run", NULL)) != CLI_EXIT_OK) {
    config_free(cfg);
    return rc;
  }
  /* The operations side (metrics, /healthz, sd_notify, SIGHUP, retention) watches it. */
  ops_t *ops = ops_new(cfg, ctx->config_path);
  if (!ops) {
    fprintf(stderr, "fleetarc run: out of memory\n");
    config_free(cfg);
    return CLI_EXIT_FAILED;
  }
  archiver_hooks_t hooks;
  ops_hooks(ops, &hooks);
  archiver_options_t opt = {.mode = ARCHIVER_RUN, .cfg = cfg, .streams = cfg->archive.streams,
                            .hooks = &hooks};
  rc = archiver_run(&opt);
  ops_free(ops);
  config_free(cfg);
  return rc;
}
