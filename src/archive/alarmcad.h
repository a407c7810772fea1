/* When `run` asks a device for its alarms (issue 12): alarms are not tied to what
 * /api/track shows (the platform makes offline, geofence, parking, fatigue and route
 * alarms by itself), so they are asked on a cadence and on events:
 *  (a) after a change of the track record that usually comes with an alarm (datastatus,
 *      accstatus or defencestatus changed; a new gpstime or hearttime/systemtime), at
 *      most once per archive.alarm_interval;
 *  (b) after a change of datastatus (online -> offline, expired, blocked, and back), at
 *      once, whatever the cadence, with a window up to the present: the poll that shows
 *      the change comes within one track_interval of it;
 *  (c) while silent, once per archive.alarm_idle_interval.
 * A full page of 100 is followed at once whatever this says (the archiver's `more` bit).
 * Times are the platform's (server) seconds. Pure: no I/O. */
#ifndef FLEETARC_ARCHIVE_ALARMCAD_H
#define FLEETARC_ARCHIVE_ALARMCAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The platform's own ingest delay: an alarm becomes listable a little after its system
 * time. `run` asks alarms only up to the present less this, so that an alarm the
 * platform is still storing is not skipped by a window that already passed its second:
 * an answer 20023 (no data) for [begin, end] covers [begin, end] with end = the present
 * at the request less this margin. 30 s is well above the few seconds a platform takes
 * to file a record, and well below a track interval (60 s), so that rule (b) still
 * answers within about one track interval. */
#define ALARMCAD_INGEST_MARGIN_S 30

typedef struct alarmcad alarmcad_t;

/* What a track record says that matters to alarms. -1: no such status. */
typedef struct alarmcad_record {
  int64_t gpstime, heard; /* heard: max(systemtime, hearttime) */
  int datastatus, accstatus, defencestatus;
} alarmcad_record_t;

alarmcad_t *alarmcad_new(void);
void alarmcad_free(alarmcad_t *c);

/* A track record of device dev, seen at server time now. The first record of a device
 * counts as a change. 0 or -ENOMEM. */
int alarmcad_track(alarmcad_t *c, size_t dev, const alarmcad_record_t *r, int64_t now)
    __attribute__((warn_unused_result));

/* Whether dev's alarms are due at `now`. next_begin: the first second its alarms are not
 * yet covered from (the archiver's cursor), so next_begin - 1 + margin is about when the
 * last window was asked. interval_s, idle_s: archive.alarm_interval, alarm_idle_interval. */
bool alarmcad_due(const alarmcad_t *c, size_t dev, int64_t next_begin, int64_t now,
                  int64_t interval_s, int64_t idle_s);

/* The server time from which rule (b) makes dev due (a datastatus change was seen), or 0.
 * Such a window is asked up to the present itself: the platform made the alarm when it
 * changed the status that the poll already shows. */
int64_t alarmcad_urgent_at(const alarmcad_t *c, size_t dev);

/* An alarm window of dev was asked at `now`: the changes seen so far are answered. */
void alarmcad_asked(alarmcad_t *c, size_t dev, int64_t now);

#endif
