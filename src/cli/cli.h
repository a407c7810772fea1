/* The commands of `fleetarc`: one function each, called by main() with the arguments
 * after the command name (argv[0] is the command). Each returns the exit status:
 * 0 done, 1 failed at run time, 2 bad usage or bad configuration. */
#ifndef FLEETARC_CLI_CLI_H
#define FLEETARC_CLI_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "cli/output.h"

enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAILED = 1,
  CLI_EXIT_USAGE = 2,
};

typedef struct cli_context {
  const char *config_path; /* -c FILE, $FLEETARC_CONFIG, or the default; never NULL */
} cli_context_t;

typedef int (*cli_command_fn)(const cli_context_t *ctx, int argc, char **argv);

typedef struct cli_command {
  const char *name;
  const char *summary; /* one line for `fleetarc --help` */
  cli_command_fn run;
} cli_command_t;

/* The table of commands, ended by an entry with a NULL name. */
extern const cli_command_t cli_commands[];

/* True when argv holds -h or --help (before a "--"). */
int cli_wants_help(int argc, char **argv);

/* Every command's option parser: whether argv[*i] is NAME VALUE (then *i is moved past
 * VALUE) or NAME=VALUE ("--from" is not "--fromage"). Returns 1 with *value set; 0 when
 * argv[*i] is another argument (*value untouched); -1 when NAME is the last argument, after
 * printing "fleetarc CMD: NAME needs a value (see fleetarc CMD --help)" on stderr (the
 * caller exits with CLI_EXIT_USAGE). An empty value is given as NAME= or NAME "". */
int cli_option(const char *cmd, int argc, char **argv, int *i, const char *name, const char **value);

struct config;
/* Loads ctx->config_path and prints its errors on stderr prefixed by `command`. Returns
 * CLI_EXIT_OK with *out set (config_free() it), CLI_EXIT_USAGE for a bad configuration
 * or CLI_EXIT_FAILED (out of memory). */
int cli_config_read(const cli_context_t *ctx, const char *command, struct config **out);
/* For the commands that log in: CLI_EXIT_OK when the account named account (NULL: every
 * account) has its password in this process; else prints why (config.h:
 * credential_error) and returns CLI_EXIT_USAGE. The other commands never need it. */
int cli_credentials(const struct config *cfg, const char *command, const char *account);
/* cli_config_read, then applies log.level and log.format; the same return. */
int cli_config_load(const cli_context_t *ctx, const char *command, struct config **out);

int cmd_check(const cli_context_t *ctx, int argc, char **argv);
int cmd_migrate(const cli_context_t *ctx, int argc, char **argv);
int cmd_report(const cli_context_t *ctx, int argc, char **argv);
int cmd_status(const cli_context_t *ctx, int argc, char **argv);
int cmd_export(const cli_context_t *ctx, int argc, char **argv);

/* ---- shared by report and export (cmd_report.c) ---- */

struct db_result;
/* The conninfo to use: option (--database) if given, else database.conninfo of the
 * configuration when -c FILE or $FLEETARC_CONFIG named one, else NULL (PG* variables).
 * *out is the caller's to free. -EINVAL (reported on stderr) for a bad configuration. */
int cli_database_conninfo(const cli_context_t *ctx, const char *option, const char *cmd,
                          char **out) __attribute__((warn_unused_result));
/* A --database CONNINFO must not carry a password (a command line is readable by every
 * user in /proc): CLI_EXIT_OK, or CLI_EXIT_USAGE after saying so on stderr (also for
 * one libpq cannot parse). The password comes from PGPASSWORD or PGPASSFILE. */
int cli_database_option_check(const char *cmd, const char *conninfo) __attribute__((warn_unused_result));
/* The --help line that says so. */
#define CLI_DATABASE_PASSWORD_HELP \
  "                       no password in it: libpq reads it from PGPASSWORD or\n" \
  "                       PGPASSFILE (~/.pgpass); a CONNINFO with one is refused\n"
/* As cli_database_conninfo (a --database option is checked by cli_database_option_check),
 * and, when timezone is not NULL, the configuration's reports.timezone there ("UTC"
 * without a configuration). The caller frees both. -EINVAL (reported on stderr) for a
 * bad configuration or option, -ENOMEM. */
int cli_report_settings(const cli_context_t *ctx, const char *option, const char *cmd,
                        char **conninfo, char **timezone) __attribute__((warn_unused_result));
/* Whether tz looks like an IANA zone name (PostgreSQL says whether it knows it). */
int cli_timezone_valid(const char *tz);
/* Parses a duration option (timeparse_duration: 90s, 5m, 1h30m) into seconds; reports a
 * bad one on stderr. */
int cli_parse_duration_option(const char *cmd, const char *opt, const char *value,
                              double *seconds) __attribute__((warn_unused_result));
/* Prints a query result with output.h's writers: an aligned table (numbers right-aligned)
 * ended by "(N rows)", CSV (RFC 4180, CRLF) or a JSON array of objects (numbers and
 * booleans bare, NULL as null). 0 or -EIO/-ENOMEM. */
int cli_print_result(const struct db_result *r, output_format_t format, FILE *out)
    __attribute__((warn_unused_result));
/* Parses a --from/--to value with timeparse_time; reports a bad one on stderr. */
int cli_parse_time_option(const char *cmd, const char *opt, const char *value, int64_t *out)
    __attribute__((warn_unused_result));

/* After an export or report of `rows` rows: names on stderr every IMEI of the
 * comma-separated imeis (may be NULL) the archive has never heard of, and says when
 * nothing was found at all. Returns the number of unknown IMEIs, -1 on a database error
 * (reported). */
int cli_say_unknown(const char *cmd, const char *conninfo, const char *imeis, size_t rows);

int cmd_run(const cli_context_t *ctx, int argc, char **argv);
int cmd_retention(const cli_context_t *ctx, int argc, char **argv);
int cmd_backfill(const cli_context_t *ctx, int argc, char **argv);

/* The API one-off commands (cmd_reads.c, cmd_writes.c, cmd_user.c). */
int cmd_devices(const cli_context_t *ctx, int argc, char **argv);
int cmd_track(const cli_context_t *ctx, int argc, char **argv);
int cmd_playback(const cli_context_t *ctx, int argc, char **argv);
int cmd_alarms(const cli_context_t *ctx, int argc, char **argv);
int cmd_mileage(const cli_context_t *ctx, int argc, char **argv);
int cmd_send_command(const cli_context_t *ctx, int argc, char **argv);
int cmd_geofence_create(const cli_context_t *ctx, int argc, char **argv);
int cmd_message(const cli_context_t *ctx, int argc, char **argv);
int cmd_user(const cli_context_t *ctx, int argc, char **argv);

#endif
