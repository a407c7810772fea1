/* Unit tests for the codec's response parsers: every demo of the spec into the expected
 * values, and each malformed input into an error that names what and where. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"

/* Reads tests/data/api/NAME; not NUL-terminated on purpose (a guard byte follows). */
static char *slurp(const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/api/%s", FLEETARC_TEST_DATA, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *data = malloc(65536);
  assert_non_null(data);
  *len = fread(data, 1, 65535, f);
  fclose(f);
  data[*len] = 'x'; /* a parser reading past len would see garbage, not a NUL */
  return data;
}

/* Parses a literal without its NUL: a heap copy of exactly strlen bytes, so ASan
 * catches any read past the end. */
#define WITH_BODY(lit, call)                         \
  do {                                               \
    size_t blen_ = strlen(lit);                      \
    char *body = malloc(blen_ ? blen_ : 1);          \
    memcpy(body, lit, blen_);                        \
    size_t len = blen_;                              \
    call;                                            \
    free(body);                                      \
  } while (0)

static void test_envelope_code_only_demos(void **state) {
  (void)state;
  const char *files[] = {"demo_geofence_create.json", "demo_user_block.json",
                         "demo_user_unblock.json", "demo_message_send.json"};
  for (size_t i = 0; i < 4; i++) {
    size_t len;
    char *body = slurp(files[i], &len);
    api_error_t err;
    assert_int_equal(api_parse_envelope(body, len, &err), 0);
    assert_int_equal(err.kind, API_ERR_NONE);
    free(body);
  }
}

static void test_invalid_demo_2_16_trailing_comma_rejected(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("demo_user_password_set.json", &len);
  api_error_t err;
  assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG);
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  /* The error points at the '}' after the trailing comma. */
  assert_int_equal(body[err.offset], '}');
  assert_non_null(strstr(err.message, "byte offset"));
  assert_non_null(strstr(err.message, "line 3"));
  free(body);
}

static void test_invalid_demo_2_2_missing_comma_rejected(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("demo_track.json", &len);
  api_tracks_t t = {0};
  api_error_t err;
  assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG);
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  assert_memory_equal(body + err.offset, "\"todaymileage\"", 14);
  assert_int_equal(t.n, 0);
  api_tracks_free(&t);
  free(body);
}

static void test_nbsp_indented_original_rejected(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("raw_nbsp_authorization.json", &len);
  api_auth_t a = {0};
  api_error_t err;
  assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG);
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  assert_int_equal(err.offset, 2); /* the first U+00A0 after "{\n" */
  free(body);
}

static void test_authorization_demo(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("demo_authorization.json", &len);
  api_auth_t a = {0};
  api_error_t err;
  assert_int_equal(api_parse_authorization(body, len, &a, &err), 0);
  assert_string_equal(a.access_token, "ACCESS_TOKEN");
  assert_int_equal(a.expires_in, 7200);
  api_auth_free(&a);
  assert_null(a.access_token);
  api_auth_free(NULL);
  free(body);
}

static void test_authorization_errors_never_echo_token(void **state) {
  (void)state;
  api_auth_t a = {0};
  api_error_t err;
  WITH_BODY("{\"code\":0,\"record\":{\"access_token\":\"SECRET-TOKEN-1\",\"expires_in\":\"7200\"}}",
            assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TYPE);
  assert_string_equal(err.message, "record.expires_in: expected an integer, got a string");
  assert_null(a.access_token);
  WITH_BODY("{\"code\":0,\"record\":{\"access_token\":\"SECRET-TOKEN-1\",\"expires_in\":0}}",
            assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  assert_null(strstr(err.message, "SECRET"));
  /* Cut inside the token: the message says where, never what. */
  WITH_BODY("{\"code\":0,\"record\":{\"access_token\":\"SECRET-TOK",
            assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TRUNCATED);
  assert_null(strstr(err.message, "SECRET"));
  WITH_BODY("{\"code\":0,\"record\":{\"access_token\":\"SECRET-TOKEN\" x}}",
            assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  assert_null(strstr(err.message, "SECRET"));
  WITH_BODY("{\"code\":0,\"record\":{\"access_token\":\"SECRET\xff\",\"expires_in\":7200}}",
            assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_UTF8);
  assert_string_equal(err.message, "record.access_token: not valid UTF-8");
  WITH_BODY("{\"code\":0,\"record\":{\"expires_in\":7200}}",
            assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_MISSING);
  assert_string_equal(err.message, "record.access_token: missing");
  WITH_BODY("{\"code\":0}", assert_int_equal(api_parse_authorization(body, len, &a, &err), -EBADMSG));
  assert_string_equal(err.message, "record: missing");
}

static void test_track_demo_fixed(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("fixed_track.json", &len);
  api_tracks_t t = {0};
  api_error_t err;
  assert_int_equal(api_parse_track(body, len, &t, &err), 0);
  assert_int_equal(t.n, 1);
  const api_track_t *r = &t.items[0];
  assert_string_equal(r->imei, "358899051025339");
  assert_int_equal(r->course, 195);
  assert_int_equal(r->systemtime, 1419905754);
  assert_int_equal(r->gpstime, 1419906052);
  assert_int_equal(r->speed, 0);
  assert_int_equal(r->hearttime, 1419906952);
  assert_int_equal(r->servertime, 1420964313);
  assert_true(r->longitude == 113.909813);
  assert_true(r->latitude == 22.583197);
  assert_int_equal(r->acctime, 1400);
  assert_int_equal(r->accstatus, 1);
  assert_int_equal(r->doorstatus, 0);
  assert_int_equal(r->chargestatus, 0);
  assert_int_equal(r->oilpowerstatus, 1);
  assert_int_equal(r->defencestatus, 0);
  assert_int_equal(r->datastatus, 2);
  assert_int_equal(r->battery, 100);
  assert_int_equal(r->mileage, 51654);
  assert_int_equal(r->todaymileage, 15654);
  api_tracks_free(&t);
  free(body);
}

#define TRACK_HEAD "{\"code\":0,\"record\":[{\"imei\":\"358899051025339\",\"servertime\":1420964313,"
#define TRACK_OK_REST "\"hearttime\":1,\"systemtime\":1,\"longitude\":1.5,\"latitude\":2.5,\"course\":0,\"speed\":0,\"datastatus\":2"

static void test_track_unknowns_and_errors(void **state) {
  (void)state;
  api_tracks_t t = {0};
  api_error_t err;
  /* -1 stays API_UNKNOWN; absent optional fields read API_UNKNOWN. */
  WITH_BODY(TRACK_HEAD "\"gpstime\":-1," TRACK_OK_REST ",\"battery\":-1,\"mileage\":-1}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), 0));
  assert_int_equal(t.n, 1);
  assert_int_equal(t.items[0].gpstime, API_UNKNOWN);
  assert_int_equal(t.items[0].battery, API_UNKNOWN);
  assert_int_equal(t.items[0].mileage, API_UNKNOWN);
  assert_int_equal(t.items[0].todaymileage, API_UNKNOWN);
  assert_int_equal(t.items[0].accstatus, API_UNKNOWN);
  assert_int_equal(t.items[0].servertime, 1420964313);
  /* Non-integral time, huge time, negative time. */
  WITH_BODY(TRACK_HEAD "\"gpstime\":2.5," TRACK_OK_REST "}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  assert_string_equal(err.message, "record[0].gpstime: 2.5 is not an integer");
  assert_int_equal(t.n, 0);
  WITH_BODY(TRACK_HEAD "\"gpstime\":1e30," TRACK_OK_REST "}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  assert_non_null(strstr(err.message, "record[0].gpstime: 1.0000000000000000e+30 is outside") ||
                  strstr(err.message, "record[0].gpstime: 1e+30 is outside"));
  WITH_BODY(TRACK_HEAD "\"gpstime\":-5," TRACK_OK_REST "}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  assert_non_null(strstr(err.message, "record[0].gpstime: -5 is outside -1.."));
  /* A numeric string is a type error. */
  WITH_BODY(TRACK_HEAD "\"gpstime\":\"123\"," TRACK_OK_REST "}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TYPE);
  assert_string_equal(err.message, "record[0].gpstime: expected an integer, got a string");
  /* Missing required key, in the second element. */
  WITH_BODY(TRACK_HEAD "\"gpstime\":1," TRACK_OK_REST "},{\"imei\":\"1\",\"servertime\":1}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_MISSING);
  assert_string_equal(err.message, "record[1].gpstime: missing");
  /* IMEI as a number: leading zeros would be lost, so it is refused. */
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":358899051025339}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TYPE);
  assert_string_equal(err.message, "record[0].imei: expected a string, got a number");
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"35889905102533A\"}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  /* Out of range coordinate, wrong record type. */
  WITH_BODY(TRACK_HEAD "\"gpstime\":1,\"hearttime\":1,\"systemtime\":1,\"longitude\":181,\"latitude\":2}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  assert_non_null(strstr(err.message, "record[0].longitude: 181 is outside -180..180"));
  WITH_BODY("{\"code\":0,\"record\":{}}", assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected an array, got an object");
  WITH_BODY("{\"code\":0,\"record\":[7]}", assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_string_equal(err.message, "record[0]: expected an object, got a number");
  api_tracks_free(&t);
}

static void test_playback_demo(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("demo_playback.json", &len);
  api_points_t p = {0};
  api_error_t err;
  assert_int_equal(api_parse_playback(body, len, &p, &err), 0);
  assert_int_equal(p.n, 9);
  assert_true(p.items[0].longitude == 113.97196);
  assert_true(p.items[0].latitude == 22.568616);
  assert_int_equal(p.items[0].gpstime, 1406858664);
  assert_int_equal(p.items[0].speed, 0);
  assert_int_equal(p.items[0].course, 228);
  assert_true(p.items[8].longitude == 113.971925);
  assert_true(p.items[8].latitude == 22.568585);
  assert_int_equal(p.items[8].gpstime, 1406858800);
  assert_int_equal(p.items[8].course, 61);
  /* Reparse into the same array: replaced, not appended. */
  assert_int_equal(api_parse_playback(body, len, &p, &err), 0);
  assert_int_equal(p.n, 9);
  api_points_free(&p);
  free(body);
}

static void test_playback_record_errors(void **state) {
  (void)state;
  api_points_t p = {0};
  api_error_t err;
  WITH_BODY("{\"code\":0,\"record\":\"1,2,3,4,5;1,2,x,4,5\"}",
            assert_int_equal(api_parse_playback(body, len, &p, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RECORD);
  assert_int_equal(err.offset, 1);
  assert_string_equal(err.message, "record group 1 (0-based): gpstime is not an integer: \"1,2,x,4,5\"");
  assert_int_equal(p.n, 0);
  WITH_BODY("{\"code\":0,\"record\":\"\"}", assert_int_equal(api_parse_playback(body, len, &p, &err), 0));
  assert_int_equal(p.n, 0);
  /* Not a string nor a form of "no data" (test_no_data_forms has those). */
  WITH_BODY("{\"code\":0,\"record\":[1]}", assert_int_equal(api_parse_playback(body, len, &p, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected a string, got an array");
  api_points_free(&p);
}

static void test_alarm_demo(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("demo_alarm_list.json", &len);
  api_alarms_t a = {0};
  api_error_t err;
  assert_int_equal(api_parse_alarm_list(body, len, &a, &err), 0);
  assert_int_equal(a.n, 1);
  assert_int_equal(a.items[0].type, 27);
  assert_true(a.items[0].longitude == 113.885888);
  assert_true(a.items[0].latitude == 22.580592);
  assert_int_equal(a.items[0].gpstime, 1541575497);
  assert_int_equal(a.items[0].systemtime, 1541575507);
  assert_int_equal(a.items[0].speed, 40);
  assert_int_equal(a.items[0].course, 40);
  assert_int_equal(a.items[0].geofenceid, 0);
  api_alarms_free(&a);
  free(body);
}

static void check_devices(const api_devices_t *d) {
  assert_int_equal(d->n, 2);
  assert_string_equal(d->items[0].imei, "512345678901234");
  assert_string_equal(d->items[0].devicename, "VT05S-01234");
  assert_string_equal(d->items[0].devicetype, "VT05S");
  assert_string_equal(d->items[0].platenumber, "TheOne");
  assert_int_equal(d->items[0].onlinetime, 0);
  assert_int_equal(d->items[0].platformduetime, 0);
  assert_string_equal(d->items[0].simcard, "7557862586");
  assert_string_equal(d->items[0].iccid, "89966415211160402250");
  assert_int_equal(d->items[0].activatedtime, 0);
  assert_int_equal(d->items[0].userduetime, 0);
  assert_string_equal(d->items[1].imei, "123456789123456");
  assert_string_equal(d->items[1].devicename, "VT05S-23456");
  assert_string_equal(d->items[1].platenumber, "");
  assert_int_equal(d->items[1].onlinetime, 1419905754);
  assert_int_equal(d->items[1].platformduetime, 1588603848);
  assert_string_equal(d->items[1].simcard, "");
  assert_string_equal(d->items[1].iccid, "");
  assert_int_equal(d->items[1].activatedtime, 1419805754);
  assert_int_equal(d->items[1].userduetime, 1589603848);
}

static void test_device_list_and_detail_demos(void **state) {
  (void)state;
  api_devices_t d = {0};
  api_error_t err;
  {
    size_t len;
    char *body = slurp("demo_device_list.json", &len);
    assert_int_equal(api_parse_device_list(body, len, &d, &err), 0);
    check_devices(&d);
    free(body);
    body = slurp("demo_device_detail.json", &len);
    assert_int_equal(api_parse_device_detail(body, len, &d, &err), 0); /* replaces */
    check_devices(&d);
    free(body);
  }
  api_devices_free(&d);
  assert_null(d.items);
  /* Absent strings read "", absent times API_UNKNOWN; a non-UTF-8 name is refused. */
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"012\"}]}",
            assert_int_equal(api_parse_device_list(body, len, &d, &err), 0));
  assert_int_equal(d.n, 1);
  assert_string_equal(d.items[0].imei, "012");
  assert_string_equal(d.items[0].devicename, "");
  assert_int_equal(d.items[0].onlinetime, API_UNKNOWN);
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"1\"},{\"imei\":\"2\",\"devicename\":\"\xc3\x28\"}]}",
            assert_int_equal(api_parse_device_list(body, len, &d, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_UTF8);
  assert_string_equal(err.message, "record[1].devicename: not valid UTF-8");
  assert_int_equal(d.n, 0);
  api_devices_free(&d);
}

static void check_demo_user(const api_user_t *u) {
  assert_int_equal(u->createtime, 1562570435);
  assert_string_equal(u->mobile, "");
  assert_string_equal(u->telephone, "");
  assert_int_equal(u->roletype, 1);
  assert_string_equal(u->account, "demo");
  assert_string_equal(u->email, "[email protected]");
  assert_int_equal(u->blockstatus, 1);
  assert_string_equal(u->username, "openapidemo");
}

static void test_user_demos(void **state) {
  (void)state;
  api_users_t u = {0};
  api_error_t err;
  size_t len;
  char *body = slurp("demo_user_info.json", &len);
  assert_int_equal(api_parse_user_info(body, len, &u, &err), 0);
  assert_int_equal(u.n, 1);
  check_demo_user(&u.items[0]);
  free(body);
  body = slurp("demo_user_list.json", &len);
  assert_int_equal(api_parse_user_list(body, len, &u, &err), 0);
  assert_int_equal(u.n, 2);
  check_demo_user(&u.items[0]);
  assert_string_equal(u.items[1].account, "demotest");
  assert_string_equal(u.items[1].username, "demotest name");
  assert_int_equal(u.items[1].createtime, 1562670132);
  free(body);
  api_users_free(&u);
  api_users_free(NULL);
}

static void test_command_demos(void **state) {
  (void)state;
  api_error_t err;
  size_t len;
  char *body = slurp("demo_command_send.json", &len);
  char *id = NULL;
  assert_int_equal(api_parse_command_send(body, len, &id, &err), 0);
  assert_string_equal(id, "1B454");
  free(id);
  free(body);
  body = slurp("demo_command_query.json", &len);
  api_command_status_t s = {0};
  assert_int_equal(api_parse_command_query(body, len, &s, &err), 0);
  assert_string_equal(s.response, "Cut off the fuel supply: Success! Speed: 2km/h.");
  assert_int_equal(s.commandstatus, 1);
  api_command_status_free(&s);
  free(body);
}

static void test_mileage_demo(void **state) {
  (void)state;
  size_t len;
  char *body = slurp("demo_mileage.json", &len);
  api_mileages_t m = {0};
  api_error_t err;
  assert_int_equal(api_parse_mileage(body, len, &m, &err), 0);
  assert_int_equal(m.n, 4);
  assert_string_equal(m.items[0].imei, "351000091413001");
  assert_true(m.items[0].km == 338.21);
  assert_string_equal(m.items[1].imei, "351000091413002");
  assert_true(m.items[1].km == 500.56);
  assert_true(m.items[2].km == 280.87);
  assert_string_equal(m.items[3].imei, "351000091413004");
  assert_true(m.items[3].km == 621.21);
  api_mileages_free(&m);
  free(body);
}

static void test_envelope_errors(void **state) {
  (void)state;
  api_error_t err;
  /* Known code carries the spec's text; unknown code keeps its number. */
  WITH_BODY("{\"code\":10009,\"message\":\"\"}",
            assert_int_equal(api_parse_envelope(body, len, &err), -EREMOTEIO));
  assert_int_equal(err.kind, API_ERR_SERVER);
  assert_int_equal(err.code, 10009);
  assert_string_equal(err.message, "API error 10009: Request is too frequency");
  WITH_BODY("{\"code\":31337}", assert_int_equal(api_parse_envelope(body, len, &err), -EREMOTEIO));
  assert_int_equal(err.code, 31337);
  assert_string_equal(err.message, "API error 31337: unknown code");
  /* Empty, whitespace only. */
  WITH_BODY("", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_EMPTY);
  assert_string_equal(err.message, "empty body (0 bytes)");
  WITH_BODY(" \r\n", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_EMPTY);
  assert_int_equal(api_parse_envelope(NULL, 0, &err), -EBADMSG);
  assert_int_equal(err.kind, API_ERR_EMPTY);
  /* HTML, with and without title. */
  WITH_BODY("\n<!DOCTYPE html><html><head><TITLE> 502 Bad Gateway </TITLE></head></html>",
            assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_HTML);
  assert_string_equal(err.message, "HTML page instead of JSON: \"502 Bad Gateway\"");
  WITH_BODY("<html><body>oops", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_HTML);
  assert_string_equal(err.message, "HTML page instead of JSON (no title)");
  /* Truncated vs malformed. */
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"3588",
            assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TRUNCATED);
  assert_int_equal(err.offset, 33);
  WITH_BODY("{\"code\":0", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TRUNCATED);
  WITH_BODY("{\"code\":0}}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  assert_int_equal(err.offset, 10);
  WITH_BODY("{\"code\":0} {}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  assert_int_equal(err.offset, 11);
  WITH_BODY("{code:0}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_SYNTAX);
  assert_int_equal(err.offset, 1);
  /* Envelope types. */
  WITH_BODY("[1]", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TYPE);
  assert_string_equal(err.message, "top level: expected an object, got an array");
  WITH_BODY("{}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_MISSING);
  assert_string_equal(err.message, "code: missing");
  WITH_BODY("{\"code\":\"0\"}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_TYPE);
  WITH_BODY("{\"code\":0.5}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  WITH_BODY("{\"code\":1e30}", assert_int_equal(api_parse_envelope(body, len, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RANGE);
  /* A NULL err is allowed. */
  WITH_BODY("{\"code\":0}", assert_int_equal(api_parse_envelope(body, len, NULL), 0));
  assert_string_equal(api_error_kind_name(API_ERR_HTML), "HTML page instead of JSON");
}

/* "No data" in every form real hosts send it (spec/NOTES.md), for each endpoint that can
 * have nothing to say: 20023, and code 0 with the record missing, null, "" or []. Each
 * parser returns 0 with an empty result (over a full one left by the page before), and
 * api_check_response says API_NO_DATA. */
static const char *const no_data_forms[] = {
  "{\"code\":20023,\"message\":\"No Data.\"}",
  "{\"code\":0}",
  "{\"code\":0,\"message\":\"\"}",
  "{\"code\":0,\"record\":null}",
  "{\"code\":0,\"record\":\"\"}",
  "{\"code\":0,\"record\":[]}",
  " {\"record\" : [ ] , \"code\" : 0 }\n",
};
#define N_FORMS (sizeof no_data_forms / sizeof no_data_forms[0])

static void test_no_data_forms(void **state) {
  (void)state;
  static const char *const demos[] = {"fixed_track.json", "demo_playback.json",
                                      "demo_alarm_list.json", "demo_device_list.json",
                                      "demo_user_list.json", "demo_mileage.json"};
  static const api_endpoint_t eps[] = {API_EP_TRACK, API_EP_PLAYBACK, API_EP_ALARM_LIST,
                                       API_EP_DEVICE_LIST, API_EP_USER_LIST,
                                       API_EP_DEVICE_MILEAGE};
  api_tracks_t t = {0};
  api_points_t p = {0};
  api_alarms_t a = {0};
  api_devices_t d = {0};
  api_users_t u = {0};
  api_mileages_t m = {0};
  api_error_t err;
  for (size_t e = 0; e < 6; e++) {
    size_t dlen;
    char *demo = slurp(demos[e], &dlen);
    for (size_t f = 0; f < N_FORMS; f++) {
      print_message("%s: %s\n", api_endpoint_key(eps[e]), no_data_forms[f]);
      size_t n = 99;
      int rc = -1;
      /* First a full answer, then the form: the result is emptied. */
      switch (eps[e]) {
        case API_EP_TRACK:
          assert_int_equal(api_parse_track(demo, dlen, &t, &err), 0);
          assert_true(t.n > 0);
          WITH_BODY(no_data_forms[f], rc = api_parse_track(body, len, &t, &err));
          n = t.n;
          break;
        case API_EP_PLAYBACK:
          assert_int_equal(api_parse_playback(demo, dlen, &p, &err), 0);
          assert_true(p.n > 0);
          WITH_BODY(no_data_forms[f], rc = api_parse_playback(body, len, &p, &err));
          n = p.n;
          break;
        case API_EP_ALARM_LIST:
          assert_int_equal(api_parse_alarm_list(demo, dlen, &a, &err), 0);
          assert_true(a.n > 0);
          WITH_BODY(no_data_forms[f], rc = api_parse_alarm_list(body, len, &a, &err));
          n = a.n;
          break;
        case API_EP_DEVICE_LIST:
          assert_int_equal(api_parse_device_list(demo, dlen, &d, &err), 0);
          assert_true(d.n > 0);
          WITH_BODY(no_data_forms[f], rc = api_parse_device_list(body, len, &d, &err));
          n = d.n;
          break;
        case API_EP_USER_LIST:
          assert_int_equal(api_parse_user_list(demo, dlen, &u, &err), 0);
          assert_true(u.n > 0);
          WITH_BODY(no_data_forms[f], rc = api_parse_user_list(body, len, &u, &err));
          n = u.n;
          break;
        default:
          assert_int_equal(api_parse_mileage(demo, dlen, &m, &err), 0);
          assert_true(m.n > 0);
          WITH_BODY(no_data_forms[f], rc = api_parse_mileage(body, len, &m, &err));
          n = m.n;
          break;
      }
      assert_int_equal(rc, 0);
      assert_int_equal(n, 0);
      assert_int_equal(err.kind, API_ERR_NONE);
      WITH_BODY(no_data_forms[f], rc = api_check_response(eps[e], body, len, &err));
      assert_int_equal(rc, API_NO_DATA);
    }
    free(demo);
    /* A full answer is data. */
    demo = slurp(demos[e], &dlen);
    assert_int_equal(api_check_response(eps[e], demo, dlen, &err), 0);
    free(demo);
  }
  api_tracks_free(&t);
  api_points_free(&p);
  api_alarms_free(&a);
  api_devices_free(&d);
  api_users_free(&u);
  api_mileages_free(&m);
}

/* What is not "no data" stays the error it was, with the same message: a record of a
 * wrong type or a non-empty wrong value, for the same endpoints; and endpoints without a
 * "nothing" answer (a login, a user's info, a device's detail, a command) keep 20023 a
 * server error and a missing record an error. */
static void test_no_data_only_those(void **state) {
  (void)state;
  api_error_t err;
  api_points_t p = {0};
  api_alarms_t a = {0};
  api_tracks_t t = {0};
  api_devices_t d = {0};
  api_users_t u = {0};
  api_mileages_t m = {0};
  WITH_BODY("{\"code\":0,\"record\":{}}", assert_int_equal(api_parse_playback(body, len, &p, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected a string, got an object");
  WITH_BODY("{\"code\":0,\"record\":0}", assert_int_equal(api_parse_alarm_list(body, len, &a, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected a string, got a number");
  WITH_BODY("{\"code\":0,\"record\":false}", assert_int_equal(api_parse_alarm_list(body, len, &a, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected a string, got a boolean");
  WITH_BODY("{\"code\":0,\"record\":\" \"}", assert_int_equal(api_parse_playback(body, len, &p, &err), -EBADMSG));
  assert_int_equal(err.kind, API_ERR_RECORD);
  WITH_BODY("{\"code\":0,\"record\":\"x\"}", assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected an array, got a string");
  WITH_BODY("{\"code\":0,\"record\":{}}", assert_int_equal(api_parse_device_list(body, len, &d, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected an array, got an object");
  WITH_BODY("{\"code\":0,\"record\":[null]}", assert_int_equal(api_parse_user_list(body, len, &u, &err), -EBADMSG));
  assert_string_equal(err.message, "record[0]: expected an object, got null");
  WITH_BODY("{\"code\":0,\"record\":\"[]\"}", assert_int_equal(api_parse_mileage(body, len, &m, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected an array, got a string");
  assert_int_equal(api_check_response(API_EP_PLAYBACK, "{\"code\":0,\"record\":{}}", 22, &err), 0);
  /* other codes stay server errors on the same endpoints */
  WITH_BODY("{\"code\":10013}", assert_int_equal(api_parse_playback(body, len, &p, &err), -EREMOTEIO));
  assert_int_equal(err.code, 10013);
  WITH_BODY("{\"code\":10013}", assert_int_equal(api_check_response(API_EP_PLAYBACK, body, len, &err), -EREMOTEIO));
  assert_int_equal(err.code, 10013);
  /* endpoints that never answer "nothing" */
  api_auth_t au = {0};
  api_users_t info = {0};
  api_devices_t detail = {0};
  char *cid = NULL;
  WITH_BODY("{\"code\":0}", assert_int_equal(api_parse_authorization(body, len, &au, &err), -EBADMSG));
  assert_string_equal(err.message, "record: missing");
  WITH_BODY("{\"code\":0,\"record\":null}", assert_int_equal(api_parse_user_info(body, len, &info, &err), -EBADMSG));
  assert_string_equal(err.message, "record: missing");
  WITH_BODY("{\"code\":0}", assert_int_equal(api_parse_device_detail(body, len, &detail, &err), -EBADMSG));
  assert_string_equal(err.message, "record: missing");
  WITH_BODY("{\"code\":0,\"record\":\"\"}", assert_int_equal(api_parse_command_send(body, len, &cid, &err), -EBADMSG));
  assert_string_equal(err.message, "record: expected an object, got a string");
  WITH_BODY("{\"code\":20023,\"message\":\"No Data.\"}",
            assert_int_equal(api_parse_user_info(body, len, &info, &err), -EREMOTEIO));
  assert_int_equal(err.kind, API_ERR_SERVER);
  assert_int_equal(err.code, API_CODE_NO_DATA);
  for (int ep = 0; ep < API_EP_COUNT; ep++) {
    bool has = ep == API_EP_TRACK || ep == API_EP_PLAYBACK || ep == API_EP_ALARM_LIST ||
               ep == API_EP_DEVICE_LIST || ep == API_EP_USER_LIST || ep == API_EP_DEVICE_MILEAGE;
    WITH_BODY("{\"code\":20023}", assert_int_equal(api_check_response((api_endpoint_t)ep, body, len, &err),
                                                   has ? API_NO_DATA : -EREMOTEIO));
    WITH_BODY("{\"code\":0}", assert_int_equal(api_check_response((api_endpoint_t)ep, body, len, &err),
                                               has ? API_NO_DATA : 0));
  }
  /* the generic envelope check knows no endpoint: 20023 is a server error there */
  WITH_BODY("{\"code\":20023}", assert_int_equal(api_parse_envelope(body, len, &err), -EREMOTEIO));
  assert_int_equal(err.code, API_CODE_NO_DATA);
  api_points_free(&p);
  api_alarms_free(&a);
  api_tracks_free(&t);
  api_devices_free(&d);
  api_users_free(&u);
  api_mileages_free(&m);
  api_users_free(&info);
  api_devices_free(&detail);
  api_auth_free(&au);
  free(cid);
}

/* Lenient parsers (issue 13): one bad record is skipped and described, the rest used. */
static void test_lenient_per_record(void **state) {
  (void)state;
  api_error_t err;
  api_rejects_t rej;
  api_tracks_t t = {0};
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"1\",\"servertime\":5,\"gpstime\":4,\"hearttime\":3,"
            "\"systemtime\":2,\"longitude\":1.5,\"latitude\":2.5,\"course\":361,\"speed\":3,"
            "\"datastatus\":2},{\"imei\":\"2\",\"servertime\":5,\"gpstime\":4,\"hearttime\":3,"
            "\"systemtime\":2,\"longitude\":1.5,\"latitude\":2.5,\"course\":10,\"speed\":3,"
            "\"datastatus\":2},7]}",
            assert_int_equal(api_parse_track_lenient(body, len, &t, &rej, &err), 0));
  assert_int_equal(t.n, 1);
  assert_string_equal(t.items[0].imei, "2");
  assert_int_equal(rej.n, 2);
  assert_int_equal(rej.first[0].index, 0);
  assert_string_equal(rej.first[0].imei, "1");
  assert_string_equal(rej.first[0].field, "course");
  assert_non_null(strstr(rej.first[0].message, "361"));
  assert_int_equal(rej.first[1].index, 2);
  assert_string_equal(rej.first[1].field, "record");
  /* the strict parser still refuses the whole answer */
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"1\",\"servertime\":5,\"gpstime\":4,"
            "\"hearttime\":3,\"systemtime\":2,\"longitude\":1.5,\"latitude\":2.5,\"course\":361,"
            "\"speed\":3,\"datastatus\":2}]}",
            assert_int_equal(api_parse_track(body, len, &t, &err), -EBADMSG));
  api_tracks_free(&t);

  api_points_t p = {0};
  WITH_BODY("{\"code\":0,\"record\":\"1.0,2.0,100,5,361;;1.0,2.0,101,5,90;x;1.0,2.0,102,5,91\"}",
            assert_int_equal(api_parse_playback_lenient(body, len, &p, &rej, &err), 0));
  assert_int_equal(p.n, 2);
  assert_int_equal(p.items[0].gpstime, 101);
  assert_int_equal(p.items[1].gpstime, 102);
  assert_int_equal(rej.n, 3);
  assert_string_equal(rej.first[0].field, "course");
  assert_string_equal(rej.first[1].field, "group");
  assert_int_equal(rej.first[2].index, 3);
  api_points_free(&p);

  api_devices_t d = {0};
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\":\"11\",\"devicename\":\"a\",\"onlinetime\":\"bad\"},"
            "{\"imei\":\"12\",\"devicename\":\"bb\",\"onlinetime\":7}]}",
            assert_int_equal(api_parse_device_list_lenient(body, len, &d, &rej, &err), 0));
  assert_int_equal(d.n, 1);
  assert_string_equal(d.items[0].imei, "12");
  assert_string_equal(d.items[0].devicename, "bb");
  assert_int_equal(d.items[0].onlinetime, 7);
  assert_int_equal(rej.n, 1);
  assert_string_equal(rej.first[0].imei, "11");
  assert_string_equal(rej.first[0].field, "onlinetime");
  api_devices_free(&d);
  /* an answer that cannot be parsed at all still fails as a whole */
  WITH_BODY("{\"code\":0,\"record\":[{\"imei\"", assert_int_equal(api_parse_device_list_lenient(body, len, &d, &rej, &err), -EBADMSG));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_envelope_code_only_demos),
    cmocka_unit_test(test_invalid_demo_2_16_trailing_comma_rejected),
    cmocka_unit_test(test_invalid_demo_2_2_missing_comma_rejected),
    cmocka_unit_test(test_nbsp_indented_original_rejected),
    cmocka_unit_test(test_authorization_demo),
    cmocka_unit_test(test_authorization_errors_never_echo_token),
    cmocka_unit_test(test_track_demo_fixed),
    cmocka_unit_test(test_track_unknowns_and_errors),
    cmocka_unit_test(test_playback_demo),
    cmocka_unit_test(test_playback_record_errors),
    cmocka_unit_test(test_alarm_demo),
    cmocka_unit_test(test_device_list_and_detail_demos),
    cmocka_unit_test(test_user_demos),
    cmocka_unit_test(test_command_demos),
    cmocka_unit_test(test_mileage_demo),
    cmocka_unit_test(test_envelope_errors),
    cmocka_unit_test(test_no_data_forms),
    cmocka_unit_test(test_no_data_only_those),
    cmocka_unit_test(test_lenient_per_record),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
