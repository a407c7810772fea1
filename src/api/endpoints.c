/* The endpoints' methods and the error codes, straight from the spec's chapters 2 and 3. */
#include "api/endpoints.h"


static const api_method_t methods[API_EP_COUNT] = {
  [API_EP_GEOFENCE_CREATE] = API_METHOD_POST, [API_EP_COMMAND_SEND] = API_METHOD_POST,
  [API_EP_COMMAND_QUERY] = API_METHOD_POST,   [API_EP_USER_BLOCK] = API_METHOD_POST,
  [API_EP_USER_UNBLOCK] = API_METHOD_POST,    [API_EP_MESSAGE_SEND] = API_METHOD_POST,
  [API_EP_USER_PASSWORD_SET] = API_METHOD_POST, /* the others: GET (0) */
};

api_method_t api_endpoint_method(api_endpoint_t ep) {
  return (unsigned)ep < API_EP_COUNT ? methods[ep] : API_METHOD_GET;
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
