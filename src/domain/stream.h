/* The archive's streams: the one definition of what a "stream" is, shared by the
 * configuration (archive.streams), the writer (fleetarc.coverage and its cursors), the
 * archiver (what it asks for) and the operations surface (metrics, status, console).
 * A stream is a kind of history fetched from the platform per device: positions by
 * /api/playback, alarms by /api/alarm/list, daily mileage by /api/device/mileage. */
#ifndef FLEETARC_DOMAIN_STREAM_H
#define FLEETARC_DOMAIN_STREAM_H

#include <string.h>

typedef enum {
  STREAM_PLAYBACK = 0, /* positions: /api/playback, 1000 records a page (spec 2.3) */
  STREAM_ALARMS = 1,   /* alarms: /api/alarm/list, 100 records a page (spec 2.8) */
  STREAM_MILEAGE = 2,  /* daily mileage: /api/device/mileage (spec 2.14) */
  STREAM_COUNT
} stream_t;

/* A set of streams, as bits (archive.streams, backfill --streams). */
#define STREAM_BIT(s) (1u << (unsigned)(s))
#define STREAM_ALL_BITS ((1u << STREAM_COUNT) - 1u)

/* "playback", "alarms", "mileage": the names of the config, of fleetarc.coverage.stream,
 * of metric labels and of `fleetarc status`. NULL for a value out of range. */
static inline const char *stream_name(int s) {
  static const char *const names[STREAM_COUNT] = {"playback", "alarms", "mileage"};
  return s >= 0 && s < STREAM_COUNT ? names[s] : NULL;
}

/* The stream named name; -1 when none. */
static inline int stream_find(const char *name) {
  for (int s = 0; s < STREAM_COUNT; s++)
    if (name && strcmp(name, stream_name(s)) == 0) return s;
  return -1;
}

#endif
