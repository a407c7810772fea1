/* The methods of the Open API's endpoints (the list itself: domain/endpoint.h) and the
 * error codes of its chapter 3: the shared vocabulary of the codec, the HTTP layer, the
 * pacing and the simulator. */
#ifndef FLEETARC_API_ENDPOINTS_H
#define FLEETARC_API_ENDPOINTS_H

#include <stdbool.h>

#include "domain/endpoint.h" /* the endpoint list, its paths and rate-limit keys */

typedef enum { API_METHOD_GET = 0, API_METHOD_POST = 1 } api_method_t;

api_method_t api_endpoint_method(api_endpoint_t ep);

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
