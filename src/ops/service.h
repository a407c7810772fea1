/* The operations side of `fleetarc run`, beside the archiver on its loop: metrics and
 * /healthz over ops/httpd, sd_notify (READY, WATCHDOG, STATUS), SIGHUP reload, and the
 * periodic retention and partitions-ahead pass. It observes the archiver (through
 * archiver_hooks_t and the status view) and steers it only on SIGHUP, handing the
 * reloaded configuration to archiver_reconfigure. */
#ifndef FLEETARC_OPS_SERVICE_H
#define FLEETARC_OPS_SERVICE_H

#include "archive/archiver.h"

struct config;
typedef struct ops ops_t;

/* cfg is borrowed and must outlive the ops_t (the archiver holds it too); config_path
 * (copied) is re-read on SIGHUP, and each configuration read so is the archiver's. NULL on out of memory. Nothing starts before the hooks'
 * `started` runs. */
ops_t *ops_new(const struct config *cfg, const char *config_path) __attribute__((warn_unused_result));
/* After the archiver's loop has ended; NULL is a no-op. */
void ops_free(ops_t *o);

/* Fills *hooks to pass in archiver_options_t.hooks (the ops_t is their arg). */
void ops_hooks(ops_t *o, archiver_hooks_t *hooks);

/* Why /healthz fails right now, or NULL when healthy; for tests and the STATUS line.
 * now_ms is the loop's clock. The text is borrowed until the next call. */
const char *ops_unhealthy_reason(ops_t *o, uint64_t now_ms);

#endif
