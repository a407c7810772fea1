/* Startup reads of gap healing, the open gaps (072_gaps.sql) and the last stored positions
 * (archive/gapheal.h): blocking libpq, before the loop. */
#ifndef FLEETARC_DB_GAPS_H
#define FLEETARC_DB_GAPS_H

#include <stddef.h>
#include <stdint.h>

/* One open gap (healed_at NULL) of the playback stream; imei borrowed for the call; times
 * in UNIX seconds, last_asked 0 when never asked. A non-zero return stops the read. */
typedef int (*db_gap_cb)(void *arg, const char *imei, int64_t from, int64_t to,
                         int64_t detected_at, int64_t next_at, int64_t last_asked,
                         int attempts, int64_t recovered);

/* Calls cb for every open gap, oldest next_at first. Returns 0, -EIO (errbuf says why)
 * or cb's value. */
int db_load_gaps(const char *conninfo, db_gap_cb cb, void *arg, char *errbuf, size_t errlen);

/* One device's last stored position where `run`'s playback pages resume (imei borrowed
 * for the call; gpstime in UNIX seconds; speed in km/h). A non-zero return stops the read. */
typedef int (*db_last_position_cb)(void *arg, const char *imei, int64_t gpstime, int speed);

/* Calls cb for every device with playback coverage and a stored position at or before
 * the end of the covered interval its pages resume after: gap healing compares the
 * first page of a new process with it (archive/gapheal.h: gapheal_seed). Returns 0,
 * -EIO (errbuf says why) or cb's value. */
int db_load_last_positions(const char *conninfo, db_last_position_cb cb, void *arg, char *errbuf,
                           size_t errlen);

#endif
