/* Bad values on purpose (fleetarc-sim --inject): one odd field in one device's answers,
 * as a real platform sends now and then, so that the archiver's per-record validation
 * can be tested against the truth. Each kind names the device it damages; everything
 * else in the same answer stays true. The truth CSVs are never damaged: they hold what
 * the platform really recorded.
 *
 * SPEC, comma-separated KEY=VALUE (a device is its IMEI, or #N for the N-th device):
 *   course=DEV    /api/track: that device's record has "course":361
 *   group=DEV     /api/playback: the first group of every page of that device has
 *                 course 361 (the point is lost; the rest of the page is true)
 *   device=DEV    /api/device/list and /detail: that device's record has
 *                 "onlinetime":"bad" (a string where a number belongs)
 *   hugetime=DEV  /api/track: that device's record has gpstime 2^53 - 1 (the largest
 *                 integer JSON carries exactly: it passes a JSON parser, not a column)
 *   status=DEV    /api/track: that device's record has "accstatus":40000 (a smallint
 *                 column holds at most 32767)
 *   jump=SECONDS  /api/track: servertime is the present plus SECONDS ...
 *   jump_after=S  ... from S real seconds after start (default 0) ...
 *   jump_for=S    ... for S real seconds (default 8). The Date header stays true.
 *   fanout=N      /api/user/list of any account also lists N sub-accounts never seen
 *                 before ("fan-1", "fan-2", ...: a new name every time), whose own
 *                 user lists do the same and whose device lists are empty. */
#ifndef FLEETARC_SIM_SIM_INJECT_H
#define FLEETARC_SIM_SIM_INJECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/fleet.h"

typedef struct sim_inject {
  int64_t course_dev, group_dev, device_dev, hugetime_dev, status_dev; /* -1: off */
  int64_t jump_s, jump_after_s, jump_for_s;
  uint32_t fanout;
  uint64_t fan_serial; /* names handed out so far */
  uint64_t injected;   /* bad values written (for /sim/stats) */
} sim_inject_t;

/* Parses SPEC against the fleet (IMEIs must exist). 0 or -EINVAL (usage error). */
int sim_inject_parse(const char *spec, const sim_fleet_t *fleet, sim_inject_t *out)
    __attribute__((warn_unused_result));
/* No injection at all. */
void sim_inject_none(sim_inject_t *out);

/* The fields of one /api/track record that injection may change, in place. elapsed_s:
 * real seconds since the simulator started. */
typedef struct sim_inject_track {
  int64_t servertime, gpstime;
  int course, accstatus;
} sim_inject_track_t;
void sim_inject_track(sim_inject_t *inj, uint32_t dev, double elapsed_s, sim_inject_track_t *t);

/* True when the playback pages of dev carry a bad first group. */
bool sim_inject_group(const sim_inject_t *inj, uint32_t dev);
/* True when dev's device record carries a bad field. */
bool sim_inject_device(const sim_inject_t *inj, uint32_t dev);
/* "inject KIND IMEI" for every device-damaging kind in use (printed at start). */
void sim_inject_print(const sim_inject_t *inj, const sim_fleet_t *fleet, FILE *out);
/* True for a name the fan-out made up. */
bool sim_inject_fan_name(const char *account);

#endif
