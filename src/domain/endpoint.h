/* The 16 endpoints of the Open API (spec chapter 2): the one list shared by the codec,
 * the HTTP layer, the pacing, the simulator and the configuration (the keys of
 * api.rate_limits), so that none of them includes another's module for it. */
#ifndef FLEETARC_DOMAIN_ENDPOINT_H
#define FLEETARC_DOMAIN_ENDPOINT_H

#include <string.h>

typedef enum {
  API_EP_AUTHORIZATION = 0, /* 2.1  GET  /api/authorization */
  API_EP_TRACK,             /* 2.2  GET  /api/track */
  API_EP_PLAYBACK,          /* 2.3  GET  /api/playback */
  API_EP_GEOFENCE_CREATE,   /* 2.4  POST /api/geofence/create */
  API_EP_COMMAND_SEND,      /* 2.5  POST /api/command/send */
  API_EP_COMMAND_QUERY,     /* 2.6  POST /api/command/query */
  API_EP_DEVICE_LIST,       /* 2.7  GET  /api/device/list */
  API_EP_ALARM_LIST,        /* 2.8  GET  /api/alarm/list */
  API_EP_USER_BLOCK,        /* 2.9  POST /api/user/block */
  API_EP_USER_UNBLOCK,      /* 2.10 POST /api/user/unblock */
  API_EP_USER_INFO,         /* 2.11 GET  /api/user/info */
  API_EP_DEVICE_DETAIL,     /* 2.12 GET  /api/device/detail */
  API_EP_MESSAGE_SEND,      /* 2.13 POST /api/message/send */
  API_EP_DEVICE_MILEAGE,    /* 2.14 GET  /api/device/mileage */
  API_EP_USER_LIST,         /* 2.15 GET  /api/user/list */
  API_EP_USER_PASSWORD_SET, /* 2.16 POST /api/user/password/set */
  API_EP_COUNT
} api_endpoint_t;

/* "/api/track"; "/api/?" for a value out of range. */
static inline const char *api_endpoint_path(api_endpoint_t ep) {
  static const char *const paths[API_EP_COUNT] = {
    [API_EP_AUTHORIZATION] = "/api/authorization",
    [API_EP_TRACK] = "/api/track",
    [API_EP_PLAYBACK] = "/api/playback",
    [API_EP_GEOFENCE_CREATE] = "/api/geofence/create",
    [API_EP_COMMAND_SEND] = "/api/command/send",
    [API_EP_COMMAND_QUERY] = "/api/command/query",
    [API_EP_DEVICE_LIST] = "/api/device/list",
    [API_EP_ALARM_LIST] = "/api/alarm/list",
    [API_EP_USER_BLOCK] = "/api/user/block",
    [API_EP_USER_UNBLOCK] = "/api/user/unblock",
    [API_EP_USER_INFO] = "/api/user/info",
    [API_EP_DEVICE_DETAIL] = "/api/device/detail",
    [API_EP_MESSAGE_SEND] = "/api/message/send",
    [API_EP_DEVICE_MILEAGE] = "/api/device/mileage",
    [API_EP_USER_LIST] = "/api/user/list",
    [API_EP_USER_PASSWORD_SET] = "/api/user/password/set",
  };
  return (unsigned)ep < API_EP_COUNT ? paths[ep] : "/api/?";
}

/* The path after /api/: "track", "alarm/list": the key of `api.rate_limits`. */
static inline const char *api_endpoint_key(api_endpoint_t ep) { return api_endpoint_path(ep) + 5; }

/* The endpoint whose key (or path, with or without "/api/") is s; -1 when none. */
static inline int api_endpoint_find(const char *s) {
  if (strncmp(s, "/api/", 5) == 0) s += 5;
  for (int i = 0; i < API_EP_COUNT; i++)
    if (strcmp(api_endpoint_key((api_endpoint_t)i), s) == 0) return i;
  return -1;
}

#endif
