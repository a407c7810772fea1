/* libFuzzer target: every response parser of the codec on the same arbitrary body (not
 * NUL-terminated); each must return 0, -EREMOTEIO or -EBADMSG and free what it made. "No
 * data" is decided once: each parser's envelope verdict is api_check_response()'s, and a
 * body it calls "no data" parses as an empty result. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static void check_rc(int rc, const api_error_t *err) {
  if (rc == 0 || rc == -ENOMEM) return;
  if (rc == -EREMOTEIO && err->kind == API_ERR_SERVER) return;
  if (rc == -EBADMSG && err->kind != API_ERR_NONE && err->kind != API_ERR_SERVER &&
      err->message[0])
    return;
  abort();
}

static void check_envelope(api_endpoint_t ep, const char *body, size_t size, int rc,
                           const api_error_t *err, size_t n) {
  api_error_t e2;
  int v = api_check_response(ep, body, size, &e2);
  if (v == -ENOMEM || rc == -ENOMEM) return;
  if (err->envelope != v) abort();
  if (v == API_NO_DATA && (rc != 0 || n != 0)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *body = malloc(size ? size : 1);
  if (!body) return 0;
  if (size) memcpy(body, data, size);
  api_error_t err;
  check_rc(api_parse_envelope(body, size, &err), &err);

  api_auth_t auth = {0};
  check_rc(api_parse_authorization(body, size, &auth, &err), &err);
  api_auth_free(&auth);

  api_tracks_t tracks = {0};
  int rc = api_parse_track(body, size, &tracks, &err);
  check_rc(rc, &err);
  check_envelope(API_EP_TRACK, body, size, rc, &err, tracks.n);
  api_tracks_free(&tracks);

  api_points_t points = {0};
  rc = api_parse_playback(body, size, &points, &err);
  check_rc(rc, &err);
  check_envelope(API_EP_PLAYBACK, body, size, rc, &err, points.n);
  api_points_free(&points);

  api_alarms_t alarms = {0};
  rc = api_parse_alarm_list(body, size, &alarms, &err);
  check_rc(rc, &err);
  check_envelope(API_EP_ALARM_LIST, body, size, rc, &err, alarms.n);
  api_alarms_free(&alarms);

  api_devices_t devices = {0};
  rc = api_parse_device_list(body, size, &devices, &err);
  check_rc(rc, &err);
  check_envelope(API_EP_DEVICE_LIST, body, size, rc, &err, devices.n);
  for (size_t i = 0; i < devices.n; i++)
    if (strlen(devices.items[i].devicename) > size) abort();
  check_rc(api_parse_device_detail(body, size, &devices, &err), &err);
  api_devices_free(&devices);

  api_users_t users = {0};
  check_rc(api_parse_user_info(body, size, &users, &err), &err);
  rc = api_parse_user_list(body, size, &users, &err);
  check_rc(rc, &err);
  check_envelope(API_EP_USER_LIST, body, size, rc, &err, users.n);
  for (size_t i = 0; i < users.n; i++)
    if (!users.items[i].account[0]) abort();
  api_users_free(&users);

  char *commandid = NULL;
  check_rc(api_parse_command_send(body, size, &commandid, &err), &err);
  free(commandid);

  api_command_status_t status = {0};
  check_rc(api_parse_command_query(body, size, &status, &err), &err);
  api_command_status_free(&status);

  api_mileages_t mileages = {0};
  rc = api_parse_mileage(body, size, &mileages, &err);
  check_rc(rc, &err);
  check_envelope(API_EP_DEVICE_MILEAGE, body, size, rc, &err, mileages.n);
  api_mileages_free(&mileages);
  free(body);
  return 0;
}
