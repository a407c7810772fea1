/* Tables of endpoints and error codes, straight from the spec's chapters 2 and 3. */
#include "api/endpoints.h"

#include <string.h>

static const struct {
  const char *path;
  api_method_t method;
} endpoints[API_EP_COUNT] = {
  [API_EP_AUTHORIZATION] = {"/api/authorization", API_METHOD_GET},
  [API_EP_TRACK] = {"/api/track", API_METHOD_GET},
  [API_EP_PLAYBACK] = {"/api/playback", API_METHOD_GET},
  [API_EP_GEOFENCE_CREATE] = {"/api/geofence/create", API_METHOD_POST},
  [API_EP_COMMAND_SEND] = {"/api/command/send", API_METHOD_POST},
  [API_EP_COMMAND_QUERY] = {"/api/command/query", API_METHOD_POST},
  [API_EP_DEVICE_LIST] = {"/api/device/list", API_METHOD_GET},
  [API_EP_ALARM_LIST] = {"/api/alarm/list", API_METHOD_GET},
  [API_EP_USER_BLOCK] = {"/api/user/block", API_METHOD_POST},
  [API_EP_USER_UNBLOCK] = {"/api/user/unblock", API_METHOD_POST},
  [API_EP_USER_INFO] = {"/api/user/info", API_METHOD_GET},
  [API_EP_DEVICE_DETAIL] = {"/api/device/detail", API_METHOD_GET},
  [API_EP_MESSAGE_SEND] = {"/api/message/send", API_METHOD_POST},
  [API_EP_DEVICE_MILEAGE] = {"/api/device/mileage", API_METHOD_GET},
  [API_EP_USER_LIST] = {"/api/user/list", API_METHOD_GET},
  [API_EP_USER_PASSWORD_SET] = {"/api/user/password/set", API_METHOD_POST},
};

const char *api_endpoint_path(api_endpoint_t ep) {
  return (unsigned)ep < API_EP_COUNT ? endpoints[ep].path : "/api/?";
}

const char *api_endpoint_key(api_endpoint_t ep) { return api_endpoint_path(ep) + 5; }

api_method_t api_endpoint_method(api_endpoint_t ep) {
  return (unsigned)ep < API_EP_COUNT ? endpoints[ep].method : API_METHOD_GET;
}

int api_endpoint_find(const char *s) {
  if (strncmp(s, "/api/", 5) == 0) s += 5;
  for (int i = 0; i < API_EP_COUNT; i++)
    if (strcmp(endpoints[i].path + 5, s) == 0) return i;
  return -1;
}

static const struct {
  int code;
  const char *text;
} codes[] = {
  {10000, "System error"},
  {10001, "Unknown request"},
  {10002, "Login timeout"},
  {10003, "Not login yet"},
  {10004, "Parameter error"},
  {10005, "Missing required parameter"},
  {10006, "The parameter is out of range"},
  {10007, "Permission denied"},
  {10009, "Request is too frequency"},
  {10010, "Access token doesn't exist"},
  {10011, "Access token is invalid"},
  {10012, "Access token is out of date"},
  {10013, "IMEI is not authorized"},
  {10014, "Request time error"},
  {10016, "Account is blocked"},
  {20001, "Account or password error"},
  {20005, "Target doesn't exist."},
  {20017, "Device is offline."},
  {20018, "Send command fail."},
  {20023, "No Data."},
  {20046, "Target is expired."},
  {20048, "Unsupported command."},
  {20089, "Device is blocked."},
};

const char *api_code_text(int code) {
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (codes[i].code == code) return codes[i].text;
  return NULL;
}

bool api_code_is_token_error(int code) {
  return code == API_CODE_TOKEN_NOT_EXIST || code == API_CODE_TOKEN_INVALID ||
         code == API_CODE_TOKEN_EXPIRED || code == API_CODE_LOGIN_TIMEOUT ||
         code == API_CODE_NOT_LOGIN;
}
