/* What the archiver reads from the database before its loop starts: the committed
 * cursors. A blocking libpq read, once at startup (libpq stays inside src/db/). */
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

#endif
