/* The runtime of the API one-off commands (devices, track, ..., user): the configuration,
 * one account, a netc client on a private uv loop. A command checks its input, builds
 * its first requests, then apicmd_start(); its callbacks chain further calls as a small
 * state machine and end with apicmd_finish(); apicmd_run() returns the exit status once
 * every handle is closed and uv_loop_close() succeeded. Nothing touches the network
 * before apicmd_start(): input refused earlier costs no request, not even a login. */
#ifndef FLEETARC_CLI_APICMD_H
#define FLEETARC_CLI_APICMD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "config/config.h"
#include "net/client.h"

/* Embedded by each command (it holds the loop). Zero it, then apicmd_load(). */
typedef struct apicmd {
  const char *name;             /* the command, for messages ("devices") */
  config_t *cfg;                /* owned */
  const config_account_t *acct; /* in cfg */
  uv_loop_t loop;
  bool loop_inited;
  netc_t *net;                  /* NULL once closed */
  netc_account_t *na;
  uv_timer_t timer;             /* for commands that wait (send-command's polling) */
  void (*on_timer)(struct apicmd *c);
  int status;                   /* the exit status, set by apicmd_finish */
  bool finished;
} apicmd_t;

/* Loads the configuration of ctx and picks the account (NULL: the first configured).
 * Returns CLI_EXIT_OK, or prints why and returns CLI_EXIT_USAGE (bad configuration,
 * no such account) or CLI_EXIT_FAILED (out of memory). On failure c needs no cleanup. */
int apicmd_load(apicmd_t *c, const char *name, const cli_context_t *ctx, const char *account);

/* Creates the loop and the client; the first apicmd_call logs in. 0 or -errno
 * (then apicmd_run still cleans up and returns 1). */
int apicmd_start(apicmd_t *c) __attribute__((warn_unused_result));

/* netc_call for the command's account. On failure finishes the command with 1. */
void apicmd_call(apicmd_t *c, api_request_t *req, netc_response_cb cb, void *arg);

/* Arms c->timer to call c->on_timer after ms. */
void apicmd_after(apicmd_t *c, uint64_t ms, void (*fn)(apicmd_t *c));

/* Ends the command with status (the first call wins) and closes the client. */
void apicmd_finish(apicmd_t *c, int status);

/* Prints "fleetarc NAME: what: the API's code and meaning, or the transport error" and
 * finishes with 1. what may be NULL. */
void apicmd_fail(apicmd_t *c, const net_result_t *res, const char *what);
/* The same for a body the codec refused. */
void apicmd_fail_parse(apicmd_t *c, const api_error_t *err, const char *what);

/* Runs the loop until the command is finished and every handle closed; frees the
 * configuration. Returns the exit status (1 if the loop did not close cleanly). */
int apicmd_run(apicmd_t *c);

/* The whole life of a command whose work starts with one call: apicmd_load (which zeroes
 * c), apicmd_start, apicmd_call(req, cb, arg), apicmd_run. req is consumed, also when the
 * command ends before sending it. Returns the exit status. */
int apicmd_run_call(apicmd_t *c, const char *name, const cli_context_t *ctx,
                    const char *account, api_request_t *req, netc_response_cb cb, void *arg);
/* The same for a command whose first call is built by first(c) (a chain of calls); c is
 * the first member of the command's struct, which first may cast back. */
int apicmd_run_chain(apicmd_t *c, const char *name, const cli_context_t *ctx,
                     const char *account, void (*first)(apicmd_t *c));

/* Writes o in format f to stdout; 0, or prints the failure and returns 1. */
int apicmd_print(apicmd_t *c, const output_t *o, output_format_t f);
/* Prints the one row cells (borrowed) under cols in format f; the exit status. */
int apicmd_print_row(apicmd_t *c, const output_column_t *cols, size_t ncols,
                     const char *const *cells, output_format_t f);

/* 1 to API_IMEI_MAX decimal digits. */
bool apicmd_is_imei(const char *s);

/* Shared option parsing: --account NAME and --format F, with the usage error printed.
 * Returns 1 when argv[*i] was one of them (consumed, with its value), 0 when it is not,
 * -1 on a usage error (printed). */
int apicmd_common_option(const char *cmd, int argc, char **argv, int *i, const char **account,
                         output_format_t *format);

/* Prints "fleetarc CMD: msg (see fleetarc CMD --help)" and returns CLI_EXIT_USAGE. */
int apicmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A whole command whose answer is only {"code":0} (geofence-create, message, user
 * block...): loads the configuration, runs req (consumed, also on failure) and prints the
 * one row cells (borrowed) under cols on success. Returns the exit status. */
int apicmd_write_run(const cli_context_t *ctx, const char *cmd, const char *account,
                     output_format_t format, api_request_t *req, const char *what,
                     const output_column_t *cols, size_t ncols, const char *const *cells);

/* "2026-11-01T06:30:00Z" of t, or "" for t <= 0 / API_UNKNOWN (no such time). */
const char *apicmd_time_text(int64_t t, char *out, size_t n);

#endif
