/* Bounds at ingest and the account of what was refused. Every value the archiver takes
 * from an answer is checked here before it reaches a batch: times in [2000-01-01, the
 * present + 1 day], integers within their column's type, coordinates in range. A record
 * that cannot be stored is skipped; a field whose column allows NULL is NULLed instead.
 * Each refusal is counted (per endpoint and field, for fleetarc_records_rejected_total)
 * and logged once per (endpoint, IMEI, field): a bad value repeated on every poll is one
 * log line, not one a poll. */
#ifndef FLEETARC_ARCHIVE_INGEST_H
#define FLEETARC_ARCHIVE_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"

#define INGEST_TIME_MIN INT64_C(946684800) /* 2000-01-01T00:00:00Z */
#define INGEST_FUTURE_S 86400              /* times up to the present + 1 day */
#define INGEST_LOGGED_MAX 4096             /* distinct (endpoint, imei, field) logged */

typedef struct ingest ingest_t;

/* Called for every refusal (the metric). endpoint: "track", "playback", ... */
typedef void (*ingest_reject_cb)(void *arg, const char *endpoint, const char *field);

ingest_t *ingest_new(ingest_reject_cb cb, void *arg) __attribute__((warn_unused_result));
void ingest_free(ingest_t *g);

/* Counts one refused record or field and logs it the first time for this (endpoint,
 * imei, field): "rejected <endpoint> record of device <imei>: <field>: <what> (<action>)". */
void ingest_reject(ingest_t *g, const char *endpoint, const char *imei, const char *field,
                   const char *what, const char *action);
/* Every api_reject_t of a lenient parse (imei: the request's device when the record has
 * none of its own, may be NULL). */
void ingest_rejects(ingest_t *g, const char *endpoint, const char *imei, const api_rejects_t *r);
uint64_t ingest_rejected_total(const ingest_t *g);

bool ingest_time_ok(int64_t t, int64_t now);
/* NULL when the point (alarm) can be stored, else the name of its first bad field and
 * its value in what[size]. */
const char *ingest_point(const api_point_t *p, int64_t now, char *what, size_t size);
const char *ingest_alarm(const api_alarm_t *a, int64_t now, char *what, size_t size);
/* A track record: every field out of bounds is set to its unknown value (times 0,
 * statuses -1: stored NULL) and reported; returns how many were. */
int ingest_track(ingest_t *g, api_track_t *t, int64_t now);

#endif
