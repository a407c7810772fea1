/* The Open API codec: builds the 16 requests of spec chapter 2 and parses their
 * responses into plain C structs. No I/O, no event loop, no cJSON in this header.
 *
 * Ownership, once for the whole header:
 * - Every input pointer is borrowed for the duration of the call only.
 * - An api_request_t is the caller's storage (embed it in a work item); a builder
 *   fills it and the request owns `params` until api_request_free().
 * - A result struct (api_points_t, api_devices_t, ...) is the caller's storage, zero-
 *   initialised before first use. A parser replaces its content, reusing capacity it
 *   already has (parse page after page into the same api_points_t: no malloc once the
 *   array has grown). Every string pointer inside a result points into memory the
 *   result owns, valid until the next parse into it or its api_<result>_free().
 *   api_<result>_free() releases that memory, zeroes the struct, and accepts NULL.
 * - Nothing here logs. Error messages (api_error_t) never contain a secret: no token,
 *   signature, password md5, nor any string value taken from a response except the
 *   offending text of a record-string group and an HTML page's <title>.
 *
 * Return values: 0 on success, -EINVAL for a rejected request argument, -ENOMEM,
 * -EREMOTEIO when the server answered with code != 0 (err->kind == API_ERR_SERVER),
 * -EBADMSG when the body could not be decoded (err->kind says why). */
#ifndef FLEETARC_API_API_H
#define FLEETARC_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/endpoints.h"
#include "util/buf.h"

#define API_WUR __attribute__((warn_unused_result))

/* "No such status" / unknown, as the server sends it in many track fields (2.2) and
 * the value given to an optional numeric key that is absent or null. */
#define API_UNKNOWN (-1)

/* Limits of the spec. */
#define API_MAX_IMEIS 100          /* track, device detail, mileage */
#define API_MAX_ACCOUNTS 200       /* message send */
#define API_MAX_MESSAGE_CHARS 300  /* message content, in code points */
#define API_MILEAGE_MAX_SPAN (7 * 86400)
#define API_IMEI_MAX 20            /* digits; real IMEIs have 15 */

/* ---------------------------------------------------------------- errors */

typedef enum {
  API_ERR_NONE = 0,
  API_ERR_SERVER,    /* the server's code != 0: see code, api_code_text() */
  API_ERR_EMPTY,     /* empty (or whitespace-only) body */
  API_ERR_HTML,      /* an HTML page instead of JSON (proxy, captive portal, 502) */
  API_ERR_TRUNCATED, /* a valid JSON prefix that ends too early */
  API_ERR_SYNTAX,    /* malformed JSON: offset is the byte offset */
  API_ERR_TYPE,      /* a value of the wrong JSON type */
  API_ERR_MISSING,   /* a required key is absent (or null) */
  API_ERR_RANGE,     /* a number outside its field's range or C type, non-integral */
  API_ERR_UTF8,      /* a string that is not valid UTF-8 */
  API_ERR_RECORD,    /* a bad record-string group: offset is its 0-based index */
} api_error_kind_t;

typedef struct api_error {
  api_error_kind_t kind;
  int code;       /* API_ERR_SERVER: the server's code (known or not), else 0 */
  size_t offset;  /* API_ERR_SYNTAX/TRUNCATED: byte offset; API_ERR_RECORD: group index */
  char message[256]; /* says what and where, e.g. "record[3].gpstime: 2.5 is not an
                        integer"; never a secret */
  int envelope;   /* set by every parser of a body: what its envelope says, as
                     api_check_response() would (0 code 0 with data, API_NO_DATA,
                     -EREMOTEIO code != 0, -EBADMSG not understood, no record looked at).
                     A parser's other errors are its record's. */
} api_error_t;

/* Per-record validation: the lenient parsers below skip a record (an array element,
 * or a group of a record string) that fails its checks instead of failing the whole
 * answer, and say which. n counts every skipped record; the first API_REJECTS_KEPT are
 * described. An answer that cannot be parsed at all (envelope, JSON, record not an
 * array/string) still fails as a whole. */
#define API_REJECTS_KEPT 8
typedef struct api_reject {
  size_t index;                /* 0-based element or group */
  char imei[API_IMEI_MAX + 1]; /* the record's own IMEI when it has a valid one, else "" */
  char field[24];              /* "course", "gpstime", "onlinetime", "group", "record" */
  char message[200];           /* the parser's message: where, the value, the rule */
} api_reject_t;
typedef struct api_rejects {
  size_t n;
  api_reject_t first[API_REJECTS_KEPT];
} api_rejects_t;

/* "server", "empty body", "html page", ...: a stable short name of a kind. */
const char *api_error_kind_name(api_error_kind_t kind);

/* ---------------------------------------------------------------- requests */

typedef struct api_request {
  api_endpoint_t endpoint;
  api_method_t method;
  bool needs_token; /* false for the authorization request only */
  char *params;     /* owned; percent-encoded "k=v&k=v" WITHOUT access_token */
  size_t params_len;
} api_request_t;

void api_request_free(api_request_t *req); /* releases params; NULL is a no-op */

/* The full query string (or form body) to send: "access_token=T&" + params, the token
 * percent-encoded; the authorization request ignores token (may be NULL). Appends to
 * out. -EINVAL when a token is needed and NULL or empty. */
int api_request_query(const api_request_t *req, const char *token, buf_t *out) API_WUR;
/* base_url + path + "?" + query, e.g. for a GET. base_url without trailing "/api". */
int api_request_url(const api_request_t *req, const char *base_url, const char *token,
                    buf_t *out) API_WUR;
/* For logs: "GET /api/authorization?time=1&account=demo&signature=***"; the values of
 * access_token, signature and password are replaced by ***. Appends to out. */
int api_request_describe(const api_request_t *req, buf_t *out) API_WUR;

/* Builders. Arguments are UTF-8, NUL-terminated. IMEIs: 1..API_IMEI_MAX digits.
 * Accounts: non-empty valid UTF-8 (no ',' where a list is built). Times: UNIX seconds
 * >= 0. Each returns 0 or -EINVAL (nothing allocated) or -ENOMEM; on success req is
 * overwritten (free a previous one first). */
/* 2.1: signature = md5(password_md5 + time); password_md5 in either case. */
int api_request_authorization(api_request_t *req, const char *account,
                              const char *password_md5, int64_t time) API_WUR;
/* 2.2: 1..100 IMEIs. */
int api_request_track(api_request_t *req, const char *const *imeis, size_t n) API_WUR;
/* 2.3, 2.8: begin <= end. */
int api_request_playback(api_request_t *req, const char *imei, int64_t begin,
                         int64_t end) API_WUR;
int api_request_alarm_list(api_request_t *req, const char *imei, int64_t begin,
                           int64_t end) API_WUR;
/* 2.4: alarmtype 0 out, 1 in, 2 in/out; radius 100..5000 m; name non-empty. */
int api_request_geofence_create(api_request_t *req, const char *imei, const char *name,
                                int alarmtype, double longitude, double latitude,
                                int radius) API_WUR;
/* 2.5: command one of "RELAY,1" "RELAY,0" "RESET" "LOCKDOOR" "UNLOCKDOOR"
 * "SET_MILEAGE"; param_data required for SET_MILEAGE (e.g. {"mileage":"30"}) and
 * refused (must be NULL) for the others. */
int api_request_command_send(api_request_t *req, const char *imei, const char *command,
                             const char *param_data) API_WUR;
/* 2.6 */
int api_request_command_query(api_request_t *req, const char *commandid) API_WUR;
/* 2.7, 2.15: account may be NULL (the token's own account). */
int api_request_device_list(api_request_t *req, const char *account) API_WUR;
int api_request_user_list(api_request_t *req, const char *account) API_WUR;
/* 2.9, 2.10, 2.11 */
int api_request_user_block(api_request_t *req, const char *account) API_WUR;
int api_request_user_unblock(api_request_t *req, const char *account) API_WUR;
int api_request_user_info(api_request_t *req, const char *account) API_WUR;
/* 2.12: 1..100 IMEIs. */
int api_request_device_detail(api_request_t *req, const char *const *imeis,
                              size_t n) API_WUR;
/* 2.13: 1..200 accounts; content valid UTF-8, 1..300 code points. */
int api_request_message_send(api_request_t *req, const char *const *accounts, size_t n,
                             const char *content) API_WUR;
/* 2.14: 1..100 IMEIs; begin and end on minute 0 or 30 (UTC, second 0: t % 1800 == 0),
 * begin < end, end - begin <= 7 days. */
int api_request_mileage(api_request_t *req, const char *const *imeis, size_t n,
                        int64_t begin, int64_t end) API_WUR;
/* 2.16: the NEW password's md5 (32 hex digits; sent lower-case). */
int api_request_user_password_set(api_request_t *req, const char *account,
                                  const char *password_md5) API_WUR;

/* ---------------------------------------------------------------- responses */

/* Checks the envelope {"code":N,...} of any body. 0 when code == 0; -EREMOTEIO with
 * err->code otherwise; -EBADMSG (empty, HTML, truncated, syntax, no integer code).
 * It is also the whole parser of the code-only responses (2.4, 2.9, 2.10, 2.13, 2.16).
 * Every endpoint parser below checks the envelope itself: call one or the other.
 * JSON is parsed strictly: the spec's own invalid demos of 2.2 (missing comma) and
 * 2.16 (trailing comma) are rejected as API_ERR_SYNTAX. A numeric field given as a
 * string ("123") is API_ERR_TYPE. On a server error every parser leaves its result
 * empty. */
int api_parse_envelope(const char *body, size_t len, api_error_t *err) API_WUR;

/* "No data", one outcome whatever its form, decided in one place (response.c,
 * no_data_answer(), which says why): for track (2.2), playback (2.3), device/list (2.7),
 * alarm/list (2.8), device/mileage (2.14) and user/list (2.15), the answer 20023 and
 * code 0 with `record` absent, null, "" or [] all mean "nothing there". Their parsers
 * below return 0 with an empty result for each of these forms (20023 included); any
 * other malformed record stays an error. Other endpoints have no such answer. */
#define API_NO_DATA 1
/* The envelope of an answer of ep: api_parse_envelope()'s values, and API_NO_DATA
 * (> 0) for "no data". What net/client.c classifies answers with. */
int api_check_response(api_endpoint_t ep, const char *body, size_t len,
                       api_error_t *err) API_WUR;

/* 2.1 */
typedef struct api_auth {
  char *access_token; /* owned; a secret: never log it */
  int64_t expires_in; /* seconds, > 0 */
} api_auth_t;
int api_parse_authorization(const char *body, size_t len, api_auth_t *out,
                            api_error_t *err) API_WUR;
void api_auth_free(api_auth_t *a); /* also wipes the token's bytes */

/* 2.2. Fields marked (opt) may be absent or null in the body: they read API_UNKNOWN.
 * Every integer field may be API_UNKNOWN (-1); other negatives are rejected. */
typedef struct api_track {
  char imei[API_IMEI_MAX + 1];
  int64_t servertime, gpstime, hearttime, systemtime;
  double longitude, latitude; /* -180..180, -90..90 */
  int32_t course;             /* 0..360 or -1 */
  int32_t speed;              /* km/h, >= 0 or -1 */
  int64_t acctime;            /* (opt) seconds */
  int32_t accstatus, doorstatus, chargestatus, oilpowerstatus, defencestatus; /* (opt) */
  int32_t datastatus;         /* 1 never online, 2 ok, 3 expired, 4 offline, 5 block */
  int32_t battery;            /* (opt) */
  int64_t mileage, todaymileage; /* (opt) metres */
} api_track_t;
typedef struct api_tracks {
  api_track_t *items;
  size_t n, cap;
} api_tracks_t;
int api_parse_track(const char *body, size_t len, api_tracks_t *out,
                    api_error_t *err) API_WUR;
void api_tracks_free(api_tracks_t *t);
/* Lenient: a bad record is skipped and described in *rej (emptied first). */
int api_parse_track_lenient(const char *body, size_t len, api_tracks_t *out, api_rejects_t *rej,
                            api_error_t *err) API_WUR;

/* 2.3 playback: one group "longitude,latitude,gpstime,speed,course". */
typedef struct api_point {
  double longitude, latitude;
  int64_t gpstime;
  int32_t speed;  /* km/h >= 0, or -1 */
  int32_t course; /* 0..360 */
} api_point_t;
typedef struct api_points {
  api_point_t *items;
  size_t n, cap;
} api_points_t;
int api_parse_playback(const char *body, size_t len, api_points_t *out,
                       api_error_t *err) API_WUR;
void api_points_free(api_points_t *p);
int api_parse_playback_lenient(const char *body, size_t len, api_points_t *out,
                               api_rejects_t *rej, api_error_t *err) API_WUR;

/* 2.8 alarms: one group "type,longitude,latitude,gpstime,systemtime,speed,course,
 * geofenceid". */
typedef struct api_alarm {
  int32_t type; /* >= 0 (spec lists 1..44; unknown types are kept) */
  double longitude, latitude;
  int64_t gpstime, systemtime;
  int32_t speed, course;
  int64_t geofenceid; /* >= 0; 0 = none */
} api_alarm_t;
typedef struct api_alarms {
  api_alarm_t *items;
  size_t n, cap;
} api_alarms_t;
int api_parse_alarm_list(const char *body, size_t len, api_alarms_t *out,
                         api_error_t *err) API_WUR;
void api_alarms_free(api_alarms_t *a);
int api_parse_alarm_list_lenient(const char *body, size_t len, api_alarms_t *out,
                                 api_rejects_t *rej, api_error_t *err) API_WUR;

/* The record strings alone, from (s, len): not NUL-terminated, parsed in place with no
 * allocation but the array's growth. Empty string: zero rows. A single trailing ';' is
 * accepted (an empty last group); any other empty group, a missing or extra field,
 * whitespace, an exponent-free number grammar violation or a value out of range is
 * API_ERR_RECORD naming the 0-based group index and showing its text. Numbers are
 * parsed independently of the C locale. On an error, out->n counts the rows parsed
 * before the bad group (the JSON parsers above empty it instead). */
int api_records_parse_points(const char *s, size_t len, api_points_t *out,
                             api_error_t *err) API_WUR;
int api_records_parse_alarms(const char *s, size_t len, api_alarms_t *out,
                             api_error_t *err) API_WUR;
/* Lenient (rej not NULL): a bad or empty group is skipped and described in *rej (which
 * these do not empty), the others parsed; only -ENOMEM fails. */
int api_records_parse_points_lenient(const char *s, size_t len, api_points_t *out,
                                     api_rejects_t *rej, api_error_t *err) API_WUR;
int api_records_parse_alarms_lenient(const char *s, size_t len, api_alarms_t *out,
                                     api_rejects_t *rej, api_error_t *err) API_WUR;
/* Records a reject (used by both parsers): index, imei (may be NULL), field, message. */
void api_rejects_add(api_rejects_t *rej, size_t index, const char *imei, const char *field,
                     const char *message);

/* 2.7, 2.12 (strings all "" when absent or null, times API_UNKNOWN). */
typedef struct api_device {
  char imei[API_IMEI_MAX + 1];
  const char *devicename, *devicetype, *platenumber, *simcard, *iccid;
  int64_t onlinetime, platformduetime, activatedtime, userduetime;
} api_device_t;
typedef struct api_devices {
  api_device_t *items;
  size_t n;
  char *strings; /* owned: every string of items */
} api_devices_t;
int api_parse_device_list(const char *body, size_t len, api_devices_t *out,
                          api_error_t *err) API_WUR;
int api_parse_device_detail(const char *body, size_t len, api_devices_t *out,
                            api_error_t *err) API_WUR;
void api_devices_free(api_devices_t *d);
int api_parse_device_list_lenient(const char *body, size_t len, api_devices_t *out,
                                  api_rejects_t *rej, api_error_t *err) API_WUR;

/* 2.11 (n == 1), 2.15. account is required, other strings "" when absent or null. */
typedef struct api_user {
  const char *account, *username, *email, *mobile, *telephone;
  int64_t createtime;
  int32_t roletype;    /* 1 distributor, 2 end user, 3 virtual */
  int32_t blockstatus; /* 0 blocked, 1 not */
} api_user_t;
typedef struct api_users {
  api_user_t *items;
  size_t n;
  char *strings; /* owned */
} api_users_t;
int api_parse_user_info(const char *body, size_t len, api_users_t *out,
                        api_error_t *err) API_WUR;
int api_parse_user_list(const char *body, size_t len, api_users_t *out,
                        api_error_t *err) API_WUR;
void api_users_free(api_users_t *u);
int api_parse_user_list_lenient(const char *body, size_t len, api_users_t *out,
                                api_rejects_t *rej, api_error_t *err) API_WUR;

/* 2.5: *commandid is owned by the caller (free()). */
int api_parse_command_send(const char *body, size_t len, char **commandid,
                           api_error_t *err) API_WUR;

/* 2.6 */
typedef struct api_command_status {
  char *response;        /* owned */
  int32_t commandstatus; /* 1 answered, 0 not yet */
} api_command_status_t;
int api_parse_command_query(const char *body, size_t len, api_command_status_t *out,
                            api_error_t *err) API_WUR;
void api_command_status_free(api_command_status_t *s);

/* 2.14 */
typedef struct api_mileage {
  char imei[API_IMEI_MAX + 1];
  double km; /* >= 0, or API_UNKNOWN when the server says -1 */
} api_mileage_t;
typedef struct api_mileages {
  api_mileage_t *items;
  size_t n, cap;
} api_mileages_t;
int api_parse_mileage(const char *body, size_t len, api_mileages_t *out,
                      api_error_t *err) API_WUR;
void api_mileages_free(api_mileages_t *m);
int api_parse_mileage_lenient(const char *body, size_t len, api_mileages_t *out,
                              api_rejects_t *rej, api_error_t *err) API_WUR;

/* ---------------------------------------------------------------- text */

/* True when s[0..len) is valid UTF-8 (no overlongs, surrogates, > U+10FFFF); when
 * valid and chars is not NULL, stores the number of code points. */
bool api_utf8_valid(const char *s, size_t len, size_t *chars);

#endif
