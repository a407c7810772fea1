/* The archiver: the engine of `fleetarc run` and `fleetarc backfill`. One thread, one
 * libuv loop holding the API client (net/client.h), the database writer (db/pgw.h),
 * timers and signals. Invariant: a cursor moves (in the database and then in memory)
 * only in the transaction that writes the rows it covers, so a crash at any moment
 * loses nothing and the unique keys absorb what is fetched twice. */
#ifndef FLEETARC_ARCHIVE_ARCHIVER_H
#define FLEETARC_ARCHIVE_ARCHIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

typedef enum {
  ARCHIVER_RUN = 0,      /* until SIGINT/SIGTERM: discovery, polls, playback, alarms, mileage */
  ARCHIVER_BACKFILL = 1, /* exactly [from, to), then exit */
} archiver_mode_t;

typedef struct archiver_options {
  archiver_mode_t mode;
  const struct config *cfg; /* borrowed for the whole run */
  unsigned streams;         /* CONFIG_STREAM_* bits */
  /* backfill only */
  int64_t from, to;         /* UNIX seconds, from < to; `to` is exclusive */
  const char *const *imeis; /* NULL: every device discovery finds; borrowed */
  size_t n_imeis;
  const char *account;      /* NULL: every configured account; else that one only */
  bool progress_bar;        /* stderr is a terminal: a progress bar, else periodic lines */
} archiver_options_t;

/* Runs the archiver to its end on a loop of its own: a backfill until its range is
 * archived (or cannot be: an account stopped, a device kept failing), the service until
 * SIGINT or SIGTERM. Returns the exit status: 0 done (or a clean stop of `run`), 1 failed
 * at run time (the database unreachable at startup, a backfill left incomplete or
 * interrupted; a summary of what is missing is logged), 2 bad options. */
int archiver_run(const archiver_options_t *opt);

#endif
