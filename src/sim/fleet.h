/* The simulator's synthetic fleet: accounts, devices and their whole history as a pure
 * function of (seed, imei, time). Nothing is materialized per point, so 100k devices
 * with weeks of history fit in memory; the HTTP side (server.c) clamps every query to
 * the window the platform holds and to its present. */
#ifndef FLEETARC_SIM_FLEET_H
#define FLEETARC_SIM_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_fleet sim_fleet_t;

typedef struct sim_fleet_options {
  uint64_t seed;
  uint32_t devices;   /* N devices, spread over the account tree */
  bool traps;         /* add the NOTES.md trap devices (see SIM_DEVICE_TRAP_*) */
  int64_t epoch;      /* UNIX seconds: the fleet's history starts here (nothing before) */
  /* Alarms the platform makes by itself (0: off, the default). offline_after: the
   * platform's offline timeout, SIM_OFFLINE_AFTER_MIN..SIM_OFFLINE_AFTER_MAX s: a device
   * silent that long after its last report turns datastatus 4 and gets one offlineAlarm
   * (28). parking_after, 1..SIM_PARKING_AFTER_MAX s: one parkingAlarm (30) that long
   * after a trip's end while the vehicle is still parked. See the model notes below. */
  int64_t offline_after;
  int64_t parking_after;
  /* Late uploads (issue 23; late_share 0: off). A share late_share of the devices (by a
   * hash of the IMEI key) lose coverage once in every trip of 3 min or more: the window
   * [s, e), e = s + min(late_window, trip duration - 120 s), s = trip start + 60 + a hash,
   * lies inside the trip. Its reports reach the platform at v = e + late_delay (after
   * the live fix that followed the reconnection); see sim_fleet_points_seen. Alarms with
   * gpstime in a window get systemtime v + 1 when theirs was earlier. late_window >= 60,
   * late_window + late_delay <= SIM_LATE_MAX. */
  double late_share;
  int64_t late_window, late_delay;
  /* Devices per customer account, 1..400 (0: 400): small accounts for tests of several
   * accounts (issue 19), e.g. 45 devices of 5 make demo's 10 and 7 customers. */
  uint32_t account_size;
} sim_fleet_options_t;

#define SIM_LATE_MAX (5 * 3600)

/* Longer than the longest heartbeat step (30 min): only silent devices go offline. */
#define SIM_OFFLINE_AFTER_MIN 1801
#define SIM_OFFLINE_AFTER_MAX (30 * 86400)
/* Shorter than the night pause (>= 6 h 10 min): the last trip of a day always fires. */
#define SIM_PARKING_AFTER_MAX (6 * 3600)

/* Returns NULL on allocation failure or bad options. The fleet is for one thread: the
 * const queries fill per-device odometer and state caches (answers never depend on them). */
sim_fleet_t *sim_fleet_new(const sim_fleet_options_t *opt);
void sim_fleet_free(sim_fleet_t *f);
/* The options the fleet was made with (borrowed). */
const sim_fleet_options_t *sim_fleet_options(const sim_fleet_t *f);

/* Device dev stops reporting at UNIX time at (no report at or after it; an earlier end of
 * its history stays). Call before the first query of the fleet (answers are cached).
 * Returns 0 or -EINVAL. */
int sim_fleet_silence(sim_fleet_t *f, uint32_t dev, int64_t at);

/* ---- accounts: a tree, root first; no account holds more than 500 devices or
 * 500 direct sub-accounts, so big fleets spread over sub-accounts. ---- */
typedef struct sim_account {
  const char *account;   /* login name; the root is "demo" */
  const char *username;  /* may hold non-ASCII UTF-8 */
  const char *email, *mobile, *telephone;
  int64_t createtime;
  int roletype;          /* 1 distributor, 2 end user, 3 virtual */
  int32_t parent;        /* index of the parent account, -1 for the root */
  const char *password;  /* initial plain password (deterministic from the seed) */
} sim_account_t;

size_t sim_fleet_account_count(const sim_fleet_t *f);
const sim_account_t *sim_fleet_account(const sim_fleet_t *f, size_t i);
/* Index of the account called name, or -1. */
int32_t sim_fleet_account_find(const sim_fleet_t *f, const char *name);
/* The direct sub-accounts of account i: *out points at n indices (borrowed). */
size_t sim_fleet_account_children(const sim_fleet_t *f, size_t i, const uint32_t **out);
/* The devices held directly by account i (not its sub-accounts'): n device indices. */
size_t sim_fleet_account_devices(const sim_fleet_t *f, size_t i, const uint32_t **out);

/* ---- devices ---- */
typedef enum {
  SIM_DEVICE_NORMAL = 0,
  SIM_DEVICE_OFFLINE,        /* stopped reporting days ago (datastatus 4) */
  SIM_DEVICE_EXPIRED,        /* platform service expired (datastatus 3) */
  SIM_DEVICE_NEVER_ONLINE,   /* datastatus 1: no history at all */
  SIM_DEVICE_PARKED,         /* never moves in the window: heartbeats only */
  SIM_DEVICE_TRAP_EXACT_PAGE,   /* exactly 1000 points in its first history day */
  SIM_DEVICE_TRAP_SAME_TIME,    /* a burst of >1000 reports with one gpstime */
  SIM_DEVICE_TRAP_LATE_ALARMS,  /* alarms uploaded late: systemtime order != gpstime order */
} sim_device_kind_t;

/* How the model behaves (all times UTC; "day" is a UTC day; E is opt->epoch):
 * - Normal devices: per day 0..5 trips in [05:00, 23:00), each from the previous parking
 *   spot along a 3-leg path (straight legs between rounded waypoints) in a ~20 km box
 *   around a per-device home; reports every 7..13 s while moving plus one at each corner,
 *   speed 0 at a trip's first and last report; heartbeats (speed 0, course 0, same
 *   position) every 5..30 min while parked. Alarms: 9 at a trip's first report, 10 at
 *   its last, 7 at its first report above 100 km/h, 4 and 2 now and then while parked
 *   before 05:00; about 1 in 25 is uploaded 1..6 h late.
 * - Kind by device index i (i % 40): 3 OFFLINE (silent from 03:00 of day(E)+1 or +2),
 *   13 EXPIRED (platformduetime 03:00 of day(E)+2 or +3; silent after it), 19
 *   NEVER_ONLINE, 7 and 29 PARKED (heartbeats at home only); about 1 device in 10 has
 *   no sensors (battery, door, mileage, todaymileage -1). IMEIs: 15 digits with a Luhn
 *   check digit, never starting with 99; one in 16 starts with 0.
 * - Traps (opt->traps), appended after the N devices, all held by "demo":
 *   999000000000001 TRAP_EXACT_PAGE: in [E, E+86400) exactly 1000 reports, heartbeats
 *     at E+60+80k (k = 0..999) parked at home; no trips on day(E) and day(E+86400);
 *     ordinary heartbeats from E+86400, trips from the day after.
 *   999000000000002 TRAP_SAME_TIME: 1500 identical reports (parked at home, speed 0,
 *     course 0) at B = (last heartbeat at or before E+43200) + 7; no trips on day(B);
 *     ordinary heartbeats around it.
 *   999000000000003 TRAP_LATE_ALARMS: day L = day(E+86399) (the first day wholly in
 *     history) is spent parked with heartbeats every 120 s from L*86400, and 360 extra
 *     alarms on every other heartbeat (j = 0, 2, .., 718): type 4 with systemtime =
 *     gpstime + 3600 + (97 j mod 14400) when j % 4 == 0, else type 2 with +5..15 s.
 * - Alarms the platform makes by itself (opt->offline_after, opt->parking_after; off by
 *   default). They come from no report, so /api/track's gpstime, hearttime and
 *   systemtime do not move for them, and their gpstime = systemtime = the moment the
 *   platform decides:
 *   offlineAlarm (28) at H + offline_after, H the last report's gpstime, for every device
 *     whose reports end (OFFLINE devices, devices silenced with sim_fleet_silence), at
 *     the last report's position, speed 0, course 0; not for EXPIRED devices when that
 *     moment is at or after their platformduetime (they turn datastatus 3 instead).
 *     With offline_after set, datastatus is 4 from H + offline_after on (else after a
 *     day of silence).
 *   parkingAlarm (30) at E + parking_after for every trip end E (of a report that
 *     exists) when no trip starts in (E, E + parking_after], at the trip's last
 *     position, speed 0, course 0; the platform makes it even when the device went
 *     silent meanwhile. */

typedef struct sim_device {
  char imei[16];             /* 15 digits, some with leading zeros */
  const char *devicename;    /* may hold non-ASCII UTF-8 */
  const char *devicetype, *platenumber, *simcard, *iccid;
  int64_t onlinetime, platformduetime, activatedtime, userduetime;
  uint32_t account;          /* owning account index */
  sim_device_kind_t kind;
} sim_device_t;

size_t sim_fleet_device_count(const sim_fleet_t *f);
const sim_device_t *sim_fleet_device(const sim_fleet_t *f, size_t i);
/* Index of the device with this IMEI, or -1. O(1). */
int64_t sim_fleet_device_find(const sim_fleet_t *f, const char *imei);

/* ---- history: every query is over closed intervals [begin, end] ---- */
typedef struct sim_point {
  int64_t gpstime;
  double longitude, latitude;  /* 6 decimals are significant */
  int speed;                   /* km/h */
  int course;                  /* 0..359 */
} sim_point_t;

typedef struct sim_alarm {
  int type;                    /* spec 2.8, 1..44 */
  double longitude, latitude;
  int64_t gpstime, systemtime; /* systemtime >= gpstime; late uploads exist */
  int speed, course;
  int64_t geofence_id;         /* 0 when not a geofence alarm */
} sim_alarm_t;

/* Callbacks return 0 to go on, non-zero to stop (that value is returned). */
typedef int (*sim_point_cb)(void *arg, const sim_point_t *p);
typedef int (*sim_alarm_cb)(void *arg, const sim_alarm_t *a);

/* Reports of device dev with begin <= gpstime <= end, in gpstime order (equal gpstimes
 * are possible, with identical content). Pure: same answer every call. */
int sim_fleet_points(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                     sim_point_cb cb, void *arg);
/* The same, as the platform shows them at time seen_at: without the reports of late
 * windows that reach it after seen_at (INT64_MAX: every report, the truth). */
int sim_fleet_points_seen(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                          int64_t seen_at, sim_point_cb cb, void *arg);
/* The late windows of device dev whose start s is in [begin, end), in time order:
 * cb(arg, s, e, v) for reports with gpstime in [s, e) visible from v on. */
typedef int (*sim_late_cb)(void *arg, int64_t s, int64_t e, int64_t v);
int sim_fleet_late_windows(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                           sim_late_cb cb, void *arg);
/* Alarms of device dev with begin <= systemtime <= end, in systemtime order (ties by
 * gpstime, type, geofence_id). Includes in/out alarms of the geofences added so far
 * (sim_fleet_geofence_add). systemtime - gpstime never exceeds SIM_ALARM_MAX_DELAY. */
#define SIM_ALARM_MAX_DELAY (6 * 3600)
int sim_fleet_alarms(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                     sim_alarm_cb cb, void *arg);

/* The device's state as /api/track reports it at time now. While the last report lies in
 * a late window not yet uploaded, the state is the one just before that window (the
 * platform saw nothing since); from the live fix after the window on, the usual one. */
typedef struct sim_state {
  sim_point_t last;          /* last report at or before now (gpstime 0: none) */
  int64_t hearttime, systemtime, acctime;
  int accstatus, doorstatus, chargestatus, oilpowerstatus, defencestatus; /* -1 unknown */
  int datastatus;            /* 1 never online, 2 ok, 3 expired, 4 offline, 5 block */
  int battery;               /* -1 unknown */
  int64_t mileage_m, todaymileage_m; /* -1 unknown (devices without odometer) */
} sim_state_t;
/* Cheap after a device's first call in a UTC day: its day plan and what came before the
 * day are kept per device (a few hundred bytes each); answers never depend on that. */
int sim_fleet_state(const sim_fleet_t *f, uint32_t dev, int64_t now, sim_state_t *out);
/* The same answer recomputed from scratch, without any cache: the reference the tests
 * hold sim_fleet_state to (tens of microseconds per call). */
int sim_fleet_state_uncached(const sim_fleet_t *f, uint32_t dev, int64_t now, sim_state_t *out);

/* Distance driven in [begin, end), km, consistent with the points: the path length
 * between the first and the last report in [begin, end) (so the sum of great-circle
 * distances between consecutive reports in the range, within rounding to 1e-6 deg).
 * sim_state_t.mileage_m and todaymileage_m follow the same odometer. */
double sim_fleet_mileage_km(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end);

/* Trips that start in [begin, end) (and at or after the epoch); km is the path length,
 * equal to sim_fleet_mileage_km over [start, end + 1). */
typedef struct sim_trip {
  int64_t start, end;
  double start_lon, start_lat, end_lon, end_lat;
  double km;
} sim_trip_t;
typedef int (*sim_trip_cb)(void *arg, const sim_trip_t *t);
int sim_fleet_trips(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                    sim_trip_cb cb, void *arg);

/* A circular geofence created through the API at time created; alarms 5 (in) / 6 (out)
 * follow for crossings after that time. alarmtype: 0 out, 1 in, 2 in/out. Returns the
 * new geofence id (> 0) or a negative errno. */
int64_t sim_fleet_geofence_add(sim_fleet_t *f, uint32_t dev, const char *name, double lon,
                               double lat, int radius_m, int alarmtype, int64_t created);

/* Writes positions.csv, alarms.csv, devices.csv and trips.csv for [begin, end) into
 * dir (created if missing). Returns 0 or a negative errno. Each file has a header line:
 *   positions.csv imei,gpstime,longitude,latitude,speed,course: gpstime in [begin, end),
 *     distinct by (imei, gpstime), sorted by imei then gpstime, coordinates as %.6f;
 *   alarms.csv imei,alarm_type,gpstime,systemtime,longitude,latitude,speed,course,
 *     geofence_id: GPSTIME in [begin, end) (whatever the systemtime), distinct by
 *     (imei, alarm_type, gpstime, systemtime), sorted by imei, gpstime, type, systemtime;
 *   devices.csv imei,account,devicename,devicetype,platenumber: every device, strings
 *     CSV-quoted, sorted by imei;
 *   trips.csv imei,start,end,start_lon,start_lat,end_lon,end_lat,km: trips starting in
 *     [begin, end), sorted by imei then start;
 *   late.csv imei,from,to,visible_at (only with late uploads on): the late windows
 *     starting in [begin, end): positions with from <= gpstime < to (all of them in
 *     positions.csv) appear in playback at visible_at; sorted by imei then from. */
int sim_fleet_write_truth(const sim_fleet_t *f, const char *dir, int64_t begin, int64_t end);

#endif
