/* The commands of `fleetarc`: one function each, called by main() with the arguments
 * after the command name (argv[0] is the command). Each returns the exit status:
 * 0 done, 1 failed at run time, 2 bad usage or bad configuration. */
#ifndef FLEETARC_CLI_CLI_H
#define FLEETARC_CLI_CLI_H

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
  cli_command_fn run;  /* NULL: not built yet */
} cli_command_t;

/* The table of commands, ended by an entry with a NULL name. */
extern const cli_command_t cli_commands[];

/* True when argv holds -h or --help (before a "--"). */
int cli_wants_help(int argc, char **argv);

int cmd_check(const cli_context_t *ctx, int argc, char **argv);
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
