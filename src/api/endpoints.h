/* The 16 endpoints of the Open API and the error codes of its chapter 3: the shared
 * vocabulary of the codec, the HTTP layer, the pacing and the simulator. */
#ifndef FLEETARC_API_ENDPOINTS_H
#define FLEETARC_API_ENDPOINTS_H

#include <stdbool.h>

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

typedef enum { API_METHOD_GET = 0, API_METHOD_POST = 1 } api_method_t;

/* "/api/track" */
const char *api_endpoint_path(api_endpoint_t ep);
/* The path after /api/: "track", "alarm/list": the key of `api.rate_limits`. */
const char *api_endpoint_key(api_endpoint_t ep);
api_method_t api_endpoint_method(api_endpoint_t ep);
/* The endpoint whose key (or path, with or without "/api/") is s; -1 when none. */
int api_endpoint_find(const char *s);

/* Chapter 3. */
enum {
  API_CODE_OK = 0,
  API_CODE_SYSTEM_ERROR = 10000,
  API_CODE_UNKNOWN_REQUEST = 10001,
  API_CODE_LOGIN_TIMEOUT = 10002,
  API_CODE_NOT_LOGIN = 10003,
  API_CODE_PARAMETER_ERROR = 10004,
  API_CODE_MISSING_PARAMETER = 10005,
  API_CODE_OUT_OF_RANGE = 10006,
  API_CODE_PERMISSION_DENIED = 10007,
  API_CODE_TOO_FREQUENT = 10009,
  API_CODE_TOKEN_NOT_EXIST = 10010,
  API_CODE_TOKEN_INVALID = 10011,
  API_CODE_TOKEN_EXPIRED = 10012,
  API_CODE_IMEI_NOT_AUTHORIZED = 10013,
  API_CODE_TIME_ERROR = 10014,
  API_CODE_ACCOUNT_BLOCKED = 10016,
  API_CODE_BAD_CREDENTIALS = 20001,
  API_CODE_TARGET_NOT_EXIST = 20005,
  API_CODE_DEVICE_OFFLINE = 20017,
  API_CODE_SEND_COMMAND_FAIL = 20018,
  API_CODE_NO_DATA = 20023,
  API_CODE_TARGET_EXPIRED = 20046,
  API_CODE_UNSUPPORTED_COMMAND = 20048,
  API_CODE_DEVICE_BLOCKED = 20089,
};

/* The spec's description of a code ("Request is too frequency"), or NULL if unknown. */
const char *api_code_text(int code);
/* A token problem that a new login cures: 10010, 10011, 10012 (and 10002, 10003). */
bool api_code_is_token_error(int code);

#endif
