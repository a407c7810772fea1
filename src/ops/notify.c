/* sd_notify wrappers (notify.h): the one file that includes libsystemd, so the rest of
 * the program neither knows nor cares whether it runs under systemd. */
#include "ops/notify.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "util/log.h"

uint64_t notify_watchdog_usec(void) {
  uint64_t usec = 0;
  /* 0 = unset, >0 = enabled for this process; <0 = malformed variables: treat as off. */
  if (sd_watchdog_enabled(0, &usec) <= 0) return 0;
  return usec;
}

/* sd_notify returns 0 when $NOTIFY_SOCKET is unset: not an error, just not systemd. */
static void send_state(const char *state) {
  int rc = sd_notify(0, state);
  if (rc < 0) log_debug("sd_notify: %s", strerror(-rc));
}

static void send_with_status(const char *prefix, const char *status) {
  char line[512];
  if (status) snprintf(line, sizeof line, "%sSTATUS=%s", prefix, status);
  else snprintf(line, sizeof line, "%s", prefix);
  send_state(line);
}

void notify_ready(const char *status) { send_with_status("READY=1\n", status); }
void notify_status(const char *status) { send_with_status("", status); }
void notify_watchdog(void) { send_state("WATCHDOG=1"); }
void notify_reloading(bool reloading) { send_state(reloading ? "RELOADING=1" : "READY=1"); }
void notify_stopping(void) { send_state("STOPPING=1"); }
