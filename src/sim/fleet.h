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
} sim_fleet_options_t;

/* Returns NULL on allocation failure or bad options. */
sim_fleet_t *sim_fleet_new(const sim_fleet_options_t *opt);
void sim_fleet_free(sim_fleet_t *f);

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
/* Alarms of device dev with begin <= systemtime <= end, in systemtime order (ties by
 * gpstime, type, geofence_id). Includes in/out alarms of the geofences added so far
 * (sim_fleet_geofence_add). systemtime - gpstime never exceeds SIM_ALARM_MAX_DELAY. */
#define SIM_ALARM_MAX_DELAY (6 * 3600)
int sim_fleet_alarms(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end,
                     sim_alarm_cb cb, void *arg);

/* The device's state as /api/track reports it at time now. */
typedef struct sim_state {
  sim_point_t last;          /* last report at or before now (gpstime 0: none) */
  int64_t hearttime, systemtime, acctime;
  int accstatus, doorstatus, chargestatus, oilpowerstatus, defencestatus; /* -1 unknown */
  int datastatus;            /* 1 never online, 2 ok, 3 expired, 4 offline, 5 block */
  int battery;               /* -1 unknown */
  int64_t mileage_m, todaymileage_m; /* -1 unknown (devices without odometer) */
} sim_state_t;
int sim_fleet_state(const sim_fleet_t *f, uint32_t dev, int64_t now, sim_state_t *out);

/* Distance driven in [begin, end), km, consistent with the points. */
double sim_fleet_mileage_km(const sim_fleet_t *f, uint32_t dev, int64_t begin, int64_t end);

/* Trips that start in [begin, end). */
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
 * dir (created if missing). Returns 0 or a negative errno. */
int sim_fleet_write_truth(const sim_fleet_t *f, const char *dir, int64_t begin, int64_t end);

#endif
