/* What the archiver reads from the database before its loop starts: the committed
 * cursors and the known devices. A blocking libpq read, once at startup (libpq stays inside src/db/). */
#ifndef FLEETARC_DB_STATE_H
#define FLEETARC_DB_STATE_H

#include <stddef.h>
#include <stdint.h>

/* Called once per row of fleetarc.cursors whose stream starts with stream_prefix; imei and
 * stream are borrowed for the call. cursor is UNIX seconds. A non-zero return stops the
 * read and becomes its result. */
typedef int (*db_cursor_cb)(void *arg, const char *imei, const char *stream, int64_t cursor);

/* Connects with conninfo (NULL or "": PG* environment), reads the cursors whose stream is
 * exactly one of stream_keys[0..n_keys) (e.g. "playback" or "playback@FROM-TO"), and calls
 * cb for each. Returns 0, -EIO (connection or query failed; errbuf says why, without the
 * password) or cb's non-zero value. */
int db_load_cursors(const char *conninfo, const char *const *stream_keys, size_t n_keys,
                    db_cursor_cb cb, void *arg, char *errbuf, size_t errlen)
    __attribute__((warn_unused_result));

/* Called once per row of fleetarc.devices (imei borrowed for the call); removed: its
 * removed_at is set. A non-zero return stops the read and becomes its result. */
typedef int (*db_device_cb)(void *arg, const char *imei, int removed);

/* Connects with conninfo as db_load_cursors and calls cb for every known device, so that
 * a device without cursors is known too. Returns 0, -EIO (errbuf says why) or cb's value. */
int db_load_devices(const char *conninfo, db_device_cb cb, void *arg, char *errbuf,
                    size_t errlen) __attribute__((warn_unused_result));

/* Called once per merged interval of the view fleetarc.coverage, in (imei, stream, from)
 * order; imei and stream ("playback", "alarms") borrowed for the call; from and to are
 * UNIX seconds, both inclusive. A non-zero return stops the read and becomes its result. */
typedef int (*db_coverage_cb)(void *arg, const char *imei, const char *stream, int64_t from,
                              int64_t to);

/* Connects as db_load_cursors and calls cb for every covered interval. Returns 0, -EIO
 * (errbuf says why) or cb's value. */
int db_load_coverage(const char *conninfo, db_coverage_cb cb, void *arg, char *errbuf,
                     size_t errlen) __attribute__((warn_unused_result));

#endif
