/* The simulated Open API's private parts, shared by its files and by nothing else:
 * sim_api.c (the handler, tokens, rate limits, the /sim/ endpoints and the helpers every
 * endpoint uses), sim_api_history.c (track, playback, alarms, mileage) and
 * sim_api_accounts.c (devices, users, messages, geofences, commands). Functions named
 * simapi__* are internal to these files. */
#ifndef FLEETARC_SIM_SIM_API_INT_H
#define FLEETARC_SIM_SIM_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/sign.h"
#include "sim/fleet.h"
#include "sim/json_out.h"
#include "sim/sim_api.h"

#define MAX_IMEIS 100
#define MAX_LIST 500
#define MAX_MESSAGE_ACCOUNTS 200
#define MAX_MESSAGE_CHARS 300
#define MAX_FENCE_NAME_CHARS 100
#define PLAYBACK_PAGE 1000
#define ALARM_PAGE 100
#define MILEAGE_MAX_SPAN (7 * 86400)
#define TIME_TOLERANCE 300

enum {
  CMD_RELAY1 = 0, CMD_RELAY0, CMD_RESET, CMD_LOCKDOOR, CMD_UNLOCKDOOR, CMD_SET_MILEAGE, CMD_KINDS
};
/* The commands' names (as /api/command/send takes them) and their answers. */
extern const char *const simapi__command_names[CMD_KINDS];
extern const char *const simapi__command_answers[CMD_KINDS];

typedef struct account_state {
  char pw_md5[API_MD5_HEX_LEN + 1]; /* lower-case md5 of the current password */
  uint32_t serial;                  /* serial of the current token; 0: none issued */
  bool revoked;                     /* the current token was revoked (fault) */
  bool blocked;
  uint64_t expires_ns;              /* monotonic time the current token expires */
  uint64_t logins;
} account_state_t;

typedef struct command {
  uint32_t dev;
  uint32_t account;     /* who sent it */
  uint8_t kind;
  uint8_t silent_queries; /* queries answered with commandstatus 0 before the answer */
  bool never;           /* the device is offline: it never answers */
  uint32_t queries;
  int64_t mileage;      /* SET_MILEAGE's value */
} command_t;

/* The response codes /sim/stats counts: every code of chapter 3, and 0. */
static const int counted_codes[] = {0,     10000, 10001, 10002, 10003, 10004, 10005, 10006,
                                    10007, 10009, 10010, 10011, 10012, 10013, 10014, 10016,
                                    20001, 20005, 20017, 20018, 20023, 20046, 20048, 20089};
#define NCODES (sizeof counted_codes / sizeof counted_codes[0])

typedef struct stats {
  uint64_t requests[API_EP_COUNT + 1]; /* the last: unknown /api/ paths */
  uint64_t responses[NCODES];
  uint64_t http500, http502;
  uint64_t faults[SIM_FAULT_COUNT];
  uint64_t records_playback, records_alarm;
  uint64_t nodata; /* "no data" answers, in whatever form */
} stats_t;

/* sim_fleet_state is pure in (device, second) but costs microseconds (trigonometry);
 * trackers poll the same devices many times a second, so one entry per device. */
typedef struct state_entry {
  int64_t at;        /* the present it was computed for; 0: empty */
  sim_state_t state;
} state_entry_t;

struct sim_api {
  sim_fleet_t *fleet;
  state_entry_t *states; /* [device], allocated on the first track */
  sim_api_options_t opt;
  uint64_t start_ns;
  size_t naccounts;
  account_state_t *acct;
  uint64_t *last_ns;   /* [account * API_EP_COUNT + ep]: last accepted request */
  command_t *cmds;
  size_t ncmds, cmd_cap;
  uint32_t cmd_base;
  uint64_t rng;
  bool faults_on;
  stats_t st;
};

typedef struct ctx {
  sim_api_t *api;
  const sim_http_request_t *req;
  sim_json_t j;
  int ep;
  uint32_t account;   /* the token's account */
  int64_t present;
} ctx_t;


#define KEY_INT(j, key, v)          \
  do {                              \
    sim_json_lit(j, ",\"" key "\":"); \
    sim_json_int(j, v);             \
  } while (0)

#define KEY_STR(j, key, v)          \
  do {                              \
    sim_json_lit(j, ",\"" key "\":"); \
    sim_json_string(j, v);          \
  } while (0)


/* An endpoint: 0 with its answer written to c->j, or an error code. */
typedef int (*simapi_endpoint_fn)(ctx_t *c);

/* ---- sim_api.c: helpers of every endpoint */

/* A parameter of the request (query string or form), NULL when missing or empty. */
const char *simapi__param(const ctx_t *c, const char *name);
bool simapi__parse_i64(const char *s, int64_t *out);
bool simapi__parse_double(const char *s, double *out);
size_t simapi__utf8_chars(const char *s);
/* Whether account a is anc or under it. */
bool simapi__account_under(const sim_api_t *api, uint32_t a, uint32_t anc);
uint64_t simapi__mix64(uint64_t z);
int simapi__resolve_account(const ctx_t *c, const char *name, bool optional, bool strict,
                            uint32_t *out);
int simapi__resolve_imei(const ctx_t *c, const char *imei, size_t n, uint32_t *dev);
int simapi__resolve_imeis(const ctx_t *c, uint32_t devs[MAX_IMEIS], size_t *n);
/* "No data", in the form --nodata chooses. */
int simapi__no_data(ctx_t *c);

/* ---- sim_api_history.c */

int simapi__ep_track(ctx_t *c);
int simapi__ep_playback_or_alarms(ctx_t *c, bool alarms);
int simapi__ep_mileage(ctx_t *c);

/* ---- sim_api_accounts.c */

int simapi__ep_device_list(ctx_t *c);
int simapi__ep_device_detail(ctx_t *c);
int simapi__ep_user_info(ctx_t *c);
int simapi__ep_user_list(ctx_t *c);
int simapi__ep_user_block(ctx_t *c, bool block);
int simapi__ep_password_set(ctx_t *c);
int simapi__ep_message_send(ctx_t *c);
int simapi__ep_geofence_create(ctx_t *c);
int simapi__ep_command_send(ctx_t *c);
int simapi__ep_command_query(ctx_t *c);

#endif
