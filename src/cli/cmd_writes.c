/* The write side of the API: `send-command` (2.5 then 2.6 until the device answers),
 * `geofence-create` (2.4) and `message` (2.13). Every input is checked, and a stop-engine
 * command confirmed, before the runtime starts: a refused input costs no request. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/apicmd.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/sendcmd.h"

#define COMMON_HELP                                                                  \
  "  --account NAME  log in as this configured account (default: the first one)\n" \
  "  --format F      table (default), json or csv\n"                                 \
  "  -h, --help      this help\n"

/* ------------------------------------------------------------------ send-command */

static const char *const commands[] = {"RELAY,1", "RELAY,0", "RESET", "LOCKDOOR", "UNLOCKDOOR",
                                       "SET_MILEAGE"};

static const output_column_t command_cols[] = {
  {"imei", OUTPUT_STR}, {"command", OUTPUT_STR}, {"commandid", OUTPUT_STR}, {"response", OUTPUT_STR},
};

typedef struct send_cmd {
  apicmd_t c;
  output_format_t format;
  const char *imei, *command;
  sendcmd_plan_t plan;
  unsigned queries;
  char *commandid;
  api_command_status_t status;
} send_cmd_t;

static void poll_query(apicmd_t *c);

static void cb_query(void *arg, const net_result_t *res) {
  send_cmd_t *s = arg;
  if (res->error != NET_OK) { apicmd_fail(&s->c, res, "command query"); return; }
  api_error_t err;
  if (api_parse_command_query(res->body, res->body_len, &s->status, &err) != 0)
    { apicmd_fail_parse(&s->c, &err, "command query"); return; }
  s->queries++;
  if (s->status.commandstatus == 1) {
    const char *cells[] = {s->imei, s->command, s->commandid, s->status.response};
    apicmd_finish(&s->c, apicmd_print_row(&s->c, command_cols,
                                          sizeof command_cols / sizeof command_cols[0], cells,
                                          s->format));
    return;
  }
  if (s->queries >= s->plan.tries) {
    fprintf(stderr,
            "fleetarc send-command: %s to %s: timed out: no answer from the device after %u "
            "queries over %.1f s (command id %s)\n",
            s->command, s->imei, s->queries, (double)sendcmd_plan_wait_ms(&s->plan) / 1000.0,
            s->commandid);
    { apicmd_finish(&s->c, CLI_EXIT_FAILED); return; }
  }
  apicmd_after(&s->c, s->plan.interval_ms, poll_query);
}

static void poll_query(apicmd_t *c) {
  send_cmd_t *s = (send_cmd_t *)c; /* c is the first member */
  api_request_t req = {0};
  if (api_request_command_query(&req, s->commandid) != 0) {
    fprintf(stderr, "fleetarc send-command: the server's command id is not usable\n");
    { apicmd_finish(c, CLI_EXIT_FAILED); return; }
  }
  apicmd_call(c, &req, cb_query, s);
  api_request_free(&req);
}

static void cb_sent(void *arg, const net_result_t *res) {
  send_cmd_t *s = arg;
  if (res->error != NET_OK) { apicmd_fail(&s->c, res, "command send"); return; }
  api_error_t err;
  if (api_parse_command_send(res->body, res->body_len, &s->commandid, &err) != 0)
    { apicmd_fail_parse(&s->c, &err, "command send"); return; }
  apicmd_after(&s->c, s->plan.interval_ms, poll_query);
}

/* RELAY,1 stops an engine: a person at a terminal confirms it; a script says --yes. */
static int confirm_stop_engine(const char *imei) {
  if (!isatty(STDIN_FILENO)) {
    fprintf(stderr,
            "fleetarc send-command: RELAY,1 stops the engine of %s: refused without --yes "
            "when stdin is not a terminal\n",
            imei);
    return CLI_EXIT_USAGE;
  }
  fprintf(stderr, "RELAY,1 stops the engine of device %s. Send it? [y/N] ", imei);
  fflush(stderr);
  char line[32];
  if (!fgets(line, sizeof line, stdin) || (strcmp(line, "y\n") && strcmp(line, "yes\n") &&
                                           strcmp(line, "Y\n") && strcmp(line, "YES\n"))) {
    fprintf(stderr, "fleetarc send-command: not confirmed, nothing sent\n");
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

int cmd_send_command(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "send-command", *account = NULL, *param = NULL, *interval = NULL,
             *tries = NULL, *imei = NULL, *command = NULL;
  output_format_t format = OUTPUT_TABLE;
  bool yes = false;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] send-command IMEI COMMAND [--param JSON] [--yes]\n"
           "                [--account NAME] [--format F]\n"
           "\n"
           "Sends COMMAND to the device (API 2.5), then asks for its answer once a second\n"
           "(2.6) until the device answers or 30 queries passed; prints the answer, or\n"
           "fails with \"timed out\" (exit 1) after about 30 s.\n"
           "\n"
           "COMMAND: RELAY,1 (stop engine), RELAY,0 (restore engine), RESET, LOCKDOOR,\n"
           "         UNLOCKDOOR, SET_MILEAGE (needs --param '{\"mileage\":\"30\"}')\n"
           "\n"
           "  --param JSON          the command's paramData (SET_MILEAGE only)\n"
           "  --yes                 send RELAY,1 without asking. Without it RELAY,1 asks for\n"
           "                        confirmation on a terminal, and is refused (exit 2) when\n"
           "                        stdin is not a terminal.\n"
           "  --poll-interval D     wait between queries (default 1s; for tests)\n"
           "  --tries N             queries before timing out (default 30; for tests)\n" COMMON_HELP
           "\n"
           "exit status: 0 answered, 1 failed or timed out, 2 bad usage, refused or not\n"
           "confirmed, or bad configuration\n");
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, &account, &format);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--param", &param);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--poll-interval", &interval);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--tries", &tries);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r) continue;
    if (!strcmp(argv[i], "--yes")) yes = true;
    else if (argv[i][0] == '-') return apicmd_usage_error(cmd, "unknown option '%s'", argv[i]);
    else if (!imei) imei = argv[i];
    else if (!command) command = argv[i];
    else return apicmd_usage_error(cmd, "unexpected argument '%s'", argv[i]);
  }
  if (!imei || !command) return apicmd_usage_error(cmd, "give an IMEI and a COMMAND");
  if (!apicmd_is_imei(imei)) return apicmd_usage_error(cmd, "'%s' is not an IMEI", imei);
  bool known = false;
  for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) known |= !strcmp(command, commands[k]);
  if (!known)
    return apicmd_usage_error(cmd, "unknown COMMAND '%s' (RELAY,1 RELAY,0 RESET LOCKDOOR "
                              "UNLOCKDOOR SET_MILEAGE)", command);
  bool mileage = !strcmp(command, "SET_MILEAGE");
  if (mileage && (!param || !strstr(param, "\"mileage\"")))
    return apicmd_usage_error(cmd, "SET_MILEAGE needs --param '{\"mileage\":\"30\"}'");
  if (!mileage && param) return apicmd_usage_error(cmd, "--param is for SET_MILEAGE only");
  send_cmd_t s = {.format = format, .imei = imei, .command = command};
  char why[128];
  if (sendcmd_plan_parse(interval, tries, &s.plan, why, sizeof why) != 0)
    return apicmd_usage_error(cmd, "%s", why);
  api_request_t req = {0};
  if (api_request_command_send(&req, imei, command, param) != 0)
    return apicmd_usage_error(cmd, "the command's arguments are refused");
  int st = CLI_EXIT_OK;
  if (!strcmp(command, "RELAY,1") && !yes) st = confirm_stop_engine(imei);
  if (st != CLI_EXIT_OK) {
    api_request_free(&req);
    return st;
  }
  st = apicmd_run_call(&s.c, cmd, ctx, account, &req, cb_sent, &s);
  free(s.commandid);
  api_command_status_free(&s.status);
  return st;
}

/* ------------------------------------------------------------------ code-only writes */

static int parse_double(const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v) || v < lo || v > hi) return -EINVAL;
  *out = v;
  return 0;
}

static const output_column_t fence_cols[] = {
  {"imei", OUTPUT_STR},      {"name", OUTPUT_STR},     {"latitude", OUTPUT_NUM},
  {"longitude", OUTPUT_NUM}, {"radius_m", OUTPUT_NUM}, {"alarm", OUTPUT_STR},
  {"result", OUTPUT_STR},
};

int cmd_geofence_create(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "geofence-create", *account = NULL, *imei = NULL, *name = NULL,
             *lat_s = NULL, *lon_s = NULL, *radius_s = NULL, *alarm = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] geofence-create IMEI --name N --lat Y --lon X --radius M\n"
           "                --alarm in|out|inout [--account NAME] [--format F]\n"
           "\n"
           "Creates a circular geofence around (Y, X) for the device (API 2.4).\n"
           "\n"
           "  --name N        the geofence's name (any UTF-8)\n"
           "  --lat Y         centre latitude, -90..90\n"
           "  --lon X         centre longitude, -180..180\n"
           "  --radius M      metres, 100..5000 (checked before any request)\n"
           "  --alarm A       in, out or inout: which crossings raise an alarm\n" COMMON_HELP
           "\nexit status: 0 created, 1 failed, 2 bad usage or bad configuration\n");
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, &account, &format);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--name", &name);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--lat", &lat_s);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--lon", &lon_s);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--radius", &radius_s);
    if (!r) r = cli_option(cmd, argc, argv, &i, "--alarm", &alarm);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r) continue;
    if (argv[i][0] == '-') return apicmd_usage_error(cmd, "unknown option '%s'", argv[i]);
    if (imei) return apicmd_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    imei = argv[i];
  }
  if (!imei || !apicmd_is_imei(imei)) return apicmd_usage_error(cmd, "give one IMEI");
  if (!name || !*name || !lat_s || !lon_s || !radius_s || !alarm)
    return apicmd_usage_error(cmd, "--name, --lat, --lon, --radius and --alarm are required");
  double lat, lon, radius;
  if (parse_double(lat_s, -90, 90, &lat)) return apicmd_usage_error(cmd, "--lat must be -90..90");
  if (parse_double(lon_s, -180, 180, &lon)) return apicmd_usage_error(cmd, "--lon must be -180..180");
  if (parse_double(radius_s, 100, 5000, &radius) || radius != floor(radius))
    return apicmd_usage_error(cmd, "--radius must be a whole number of metres from 100 to 5000");
  int type;
  if (!strcmp(alarm, "out")) type = 0;
  else if (!strcmp(alarm, "in")) type = 1;
  else if (!strcmp(alarm, "inout")) type = 2;
  else return apicmd_usage_error(cmd, "--alarm must be in, out or inout");
  api_request_t req = {0};
  if (api_request_geofence_create(&req, imei, name, type, lon, lat, (int)radius) != 0)
    return apicmd_usage_error(cmd, "the geofence's arguments are refused (is --name UTF-8?)");
  char b[3][32];
  snprintf(b[0], 32, "%.6f", lat);
  snprintf(b[1], 32, "%.6f", lon);
  snprintf(b[2], 32, "%d", (int)radius);
  const char *cells[] = {imei, name, b[0], b[1], b[2], alarm, "created"};
  return apicmd_write_run(ctx, cmd, account, format, &req, "geofence create", fence_cols,
                          sizeof fence_cols / sizeof fence_cols[0], cells);
}

/* ------------------------------------------------------------------ message */

static const output_column_t message_cols[] = {
  {"accounts", OUTPUT_NUM}, {"characters", OUTPUT_NUM}, {"result", OUTPUT_STR},
};

int cmd_message(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "message", *account = NULL, *list = NULL, *text = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] message ACCOUNT[,ACCOUNT...] TEXT [--account NAME] [--format F]\n"
           "\n"
           "Sends TEXT to the accounts (API 2.13): at most 200 accounts and 300 characters\n"
           "(characters, not bytes), both checked before sending.\n"
           "\n" COMMON_HELP "\nexit status: 0 sent, 1 failed, 2 bad usage or bad configuration\n");
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, &account, &format);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r) continue;
    if (argv[i][0] == '-' && argv[i][1]) return apicmd_usage_error(cmd, "unknown option '%s'", argv[i]);
    if (!list) list = argv[i];
    else if (!text) text = argv[i];
    else return apicmd_usage_error(cmd, "unexpected argument '%s' (quote the TEXT)", argv[i]);
  }
  if (!list || !text) return apicmd_usage_error(cmd, "give the ACCOUNTS and a TEXT");
  size_t chars;
  if (!api_utf8_valid(text, strlen(text), &chars))
    return apicmd_usage_error(cmd, "TEXT is not valid UTF-8");
  if (chars == 0 || chars > API_MAX_MESSAGE_CHARS)
    return apicmd_usage_error(cmd, "TEXT has %zu characters: 1 to %d are allowed", chars,
                              API_MAX_MESSAGE_CHARS);
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  if (n > API_MAX_ACCOUNTS)
    return apicmd_usage_error(cmd, "%zu accounts: at most %d in one message", n, API_MAX_ACCOUNTS);
  char *copy = strdup(list);
  const char **accounts = calloc(n, sizeof *accounts);
  int st = CLI_EXIT_FAILED;
  if (!copy || !accounts) goto out;
  size_t k = 0;
  for (char *p = copy, *comma;; p = comma + 1) {
    comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      st = apicmd_usage_error(cmd, "an empty account name in '%s'", list);
      goto out;
    }
    accounts[k++] = p;
    if (!comma) break;
  }
  api_request_t req = {0};
  if (api_request_message_send(&req, accounts, k, text) != 0) {
    st = apicmd_usage_error(cmd, "the accounts are refused (valid UTF-8 names?)");
    goto out;
  }
  char b[2][24];
  snprintf(b[0], 24, "%zu", k);
  snprintf(b[1], 24, "%zu", chars);
  const char *cells[] = {b[0], b[1], "sent"};
  st = apicmd_write_run(ctx, cmd, account, format, &req, "message send", message_cols,
                        sizeof message_cols / sizeof message_cols[0], cells);
out:
  free(accounts);
  free(copy);
  return st;
}
