/* The service manager protocol (sd_notify): READY=1, WATCHDOG=1, STATUS=, STOPPING=1,
 * RELOADING=1. Every call is a no-op outside systemd (no $NOTIFY_SOCKET); libsystemd
 * is included by notify.c only. */
#ifndef FLEETARC_OPS_NOTIFY_H
#define FLEETARC_OPS_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* The watchdog period systemd asked for (WatchdogSec=, via $WATCHDOG_USEC and
 * $WATCHDOG_PID), in microseconds; 0 when the watchdog is off. */
uint64_t notify_watchdog_usec(void);

/* READY=1 with a STATUS= line (status may be NULL). */
void notify_ready(const char *status);
/* STATUS= only: one line shown by `systemctl status`. */
void notify_status(const char *status);
/* WATCHDOG=1: the loop still turns. */
void notify_watchdog(void);
/* RELOADING=1 at the start of a SIGHUP reload, then READY=1 when done (reloading=false). */
void notify_reloading(bool reloading);
/* STOPPING=1 when the service begins to shut down. */
void notify_stopping(void);

#endif
