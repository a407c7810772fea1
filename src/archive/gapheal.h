/* Gap healing (issue 23): trackers buffer their fixes while out of coverage and upload
 * them later, stored by the platform under their own gpstime; a playback cursor that has
 * passed that time never sees them. This module finds such windows in the stored track
 * and says when each is to be asked again. Pure bookkeeping: no I/O, times are the
 * platform's (UNIX seconds of its servertime), devices are devtab indices.
 *
 * - A gap is a silence between two consecutive stored positions of one device (as the
 *   playback pages deliver them, in gpstime order) longer than min_s, with the vehicle
 *   moving on at least one side (speed > 0: a parked device's heartbeats are sparse on
 *   purpose). The window asked is [before + 1, after - 1].
 * - A window read when it had already settled (the page asked at or after after +
 *   settle_s) is not a gap: what was late had arrived by then.
 * - A gap is first due at after + settle_s, then settle_s after each ask. An ask that
 *   brings positions heals it; an ask that brings none counts as an attempt, and after
 *   max_attempts attempts the gap is marked healed with nothing recovered. So a window is
 *   asked at most once per settle period and at most max_attempts times in all.
 * - Open gaps live here; healed ones are only in the database (fleetarc.gaps).
 * - The last position of each device is kept here while pages come; at startup it is
 *   seeded from the database (gapheal_seed), so a silence spanning a restart is found. */
#ifndef FLEETARC_ARCHIVE_GAPHEAL_H
#define FLEETARC_ARCHIVE_GAPHEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gapheal_options {
  int64_t settle_s;      /* archive.gap_settle */
  int64_t min_s;         /* archive.gap_min */
  unsigned max_attempts; /* archive.gap_max_attempts, >= 1 */
} gapheal_options_t;

typedef struct gapheal_gap {
  uint32_t dev;
  int64_t from, to;      /* the window, inclusive gpstimes (with dev: its identity) */
  int64_t resume;        /* the next ask begins here: from, or after a full page the
                            last gpstime of that page (playback pages on gpstime) */
  int64_t detected_at;   /* platform time of the page that revealed it */
  int64_t next_at;       /* due from this platform time on */
  int64_t last_asked;    /* 0: never */
  unsigned attempts;     /* asks that brought nothing */
  int64_t recovered;     /* positions stored by its asks */
  bool healed;
  bool busy;             /* an ask is in flight */
} gapheal_gap_t;

typedef struct gapheal gapheal_t;

gapheal_t *gapheal_new(const gapheal_options_t *opt);
void gapheal_free(gapheal_t *g);
/* New options (reload): open gaps keep their next_at. */
void gapheal_set_options(gapheal_t *g, const gapheal_options_t *opt);

/* A stored position of dev, from a playback page asked at platform time asked_at, in
 * gpstime order per device (a repeated gpstime is ignored). Returns 1 with *out set
 * when the silence before it is a new gap (already added: the caller records it in the
 * database with the page's rows), 0 when not, -ENOMEM. */
int gapheal_observe(gapheal_t *g, uint32_t dev, int64_t gpstime, int speed, int64_t asked_at,
                    gapheal_gap_t *out) __attribute__((warn_unused_result));
/* dev's last stored position before this process (read at startup): the first page
 * of the next run is compared with it, so a silence that spans a restart (the device
 * went quiet before the stop and resumed after the start) is a gap like any other. A
 * later position already observed is kept. Returns 0 or -ENOMEM. */
int gapheal_seed(gapheal_t *g, uint32_t dev, int64_t gpstime, int speed)
    __attribute__((warn_unused_result));
/* Forgets dev's last position (a new run of pages starts elsewhere). */
void gapheal_reset_device(gapheal_t *g, uint32_t dev);

/* Adds an open gap (loaded at startup). Returns 0 or -ENOMEM; an equal one (dev, from,
 * to) already held is left as it is. */
int gapheal_add(gapheal_t *g, const gapheal_gap_t *gap) __attribute__((warn_unused_result));

/* An open gap due at now that is not busy (oldest next_at first), or NULL; *wake (when
 * not NULL) is lowered to the earliest next_at of the open gaps not due yet. The
 * pointer holds until the next call that adds or completes a gap. */
gapheal_gap_t *gapheal_due(gapheal_t *g, int64_t now, int64_t *wake);

/* The ask of gap (from gapheal_due, marked busy by the caller) is over: recovered
 * positions came. Updates attempts, next_at, healed; returns a copy in *out (to store)
 * and drops a healed gap from memory. */
void gapheal_done(gapheal_t *g, gapheal_gap_t *gap, int64_t now, int64_t recovered,
                  gapheal_gap_t *out);
/* The ask brought a full page ending at last (< gap->to): the rest of the window is
 * asked at once from last (no attempt counted; positions count as recovered). */
void gapheal_continue(gapheal_t *g, gapheal_gap_t *gap, int64_t now, int64_t last,
                      int64_t recovered, gapheal_gap_t *out);
/* The open gap (dev, from, to), or NULL. Valid as gapheal_due's answer. */
gapheal_gap_t *gapheal_find(gapheal_t *g, uint32_t dev, int64_t from, int64_t to);
/* The ask failed (network, API error): not an attempt; due again after settle_s. */
void gapheal_failed(gapheal_t *g, gapheal_gap_t *gap, int64_t now);

/* Open gaps held, and healed since start (for logs and tests). */
size_t gapheal_open(const gapheal_t *g);
size_t gapheal_healed(const gapheal_t *g);

#endif
