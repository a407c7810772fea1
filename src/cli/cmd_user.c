/* `fleetarc user info|list|block|unblock|set-password ACCOUNT` (API 2.9-2.11, 2.15,
 * 2.16). set-password reads the new password without echo (or from stdin when it is not
 * a terminal), sends only its md5 and wipes it; the password is never printed. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "api/api.h"
#include "api/sign.h"
#include "cli/apicmd.h"
#include "cli/cli.h"
#include "cli/output.h"

static const output_column_t user_cols[] = {
  {"account", OUTPUT_STR},   {"username", OUTPUT_STR}, {"email", OUTPUT_STR},
  {"mobile", OUTPUT_STR},    {"telephone", OUTPUT_STR}, {"createtime", OUTPUT_STR},
  {"roletype", OUTPUT_STR},  {"blocked", OUTPUT_STR},
};

static const output_column_t done_cols[] = {{"account", OUTPUT_STR}, {"result", OUTPUT_STR}};

static const char *role_name(int32_t r) {
  switch (r) {
    case 1: return "distributor";
    case 2: return "end user";
    case 3: return "virtual";
    default: return NULL;
  }
}

typedef struct user_cmd {
  apicmd_t c;
  output_format_t format;
  bool list;
} user_cmd_t;

static void cb_users(void *arg, const net_result_t *res) {
  user_cmd_t *u = arg;
  const char *what = u->list ? "user list" : "user info";
  if (res->error != NET_OK) {
    apicmd_fail(&u->c, res, what);
    return;
  }
  api_users_t users = {0};
  api_error_t err;
  int rc = u->list ? api_parse_user_list(res->body, res->body_len, &users, &err)
                   : api_parse_user_info(res->body, res->body_len, &users, &err);
  if (rc != 0) {
    apicmd_fail_parse(&u->c, &err, what);
    return;
  }
  output_t *o = output_new(user_cols, sizeof user_cols / sizeof user_cols[0]);
  int st = o ? CLI_EXIT_OK : CLI_EXIT_FAILED;
  for (size_t i = 0; i < users.n && st == CLI_EXIT_OK; i++) {
    const api_user_t *v = &users.items[i];
    char t[24];
    const char *cells[] = {v->account, v->username, v->email, v->mobile, v->telephone,
                           apicmd_time_text(v->createtime, t, sizeof t), role_name(v->roletype),
                           v->blockstatus == 0 ? "yes" : v->blockstatus == 1 ? "no" : NULL};
    if (output_row(o, cells) != 0) st = CLI_EXIT_FAILED;
  }
  if (st == CLI_EXIT_OK) st = apicmd_print(&u->c, o, u->format);
  output_free(o);
  api_users_free(&users);
  apicmd_finish(&u->c, st);
}

/* One line of at most n-1 bytes into buf, without its line end; on a terminal with echo
 * off. Returns 0, -ENODATA (end of input), -E2BIG (too long) or -errno. */
static int read_secret_line(const char *prompt, char *buf, size_t n) {
  bool tty = isatty(STDIN_FILENO);
  struct termios old, quiet;
  if (tty) {
    if (tcgetattr(STDIN_FILENO, &old) != 0) return -errno;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fputs(prompt, stderr);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) return -errno;
  }
  int rc = 0;
  if (!fgets(buf, (int)n, stdin)) rc = -ENODATA;
  if (tty) (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  if (rc) return rc;
  size_t len = strlen(buf);
  if (len && buf[len - 1] == '\n') buf[--len] = '\0';
  else if (len == n - 1 && !feof(stdin)) return -E2BIG;
  if (len && buf[len - 1] == '\r') buf[--len] = '\0';
  return 0;
}

/* The new password's md5 into md5 (API_MD5_HEX_LEN + 1). Prints why and returns
 * CLI_EXIT_USAGE when there is none. */
static int read_new_password_md5(const char *account, char *md5) {
  char pw[512], again[512], prompt[160];
  int st = CLI_EXIT_USAGE;
  bool tty = isatty(STDIN_FILENO);
  snprintf(prompt, sizeof prompt, "New password for %s: ", account);
  int rc = read_secret_line(prompt, pw, sizeof pw);
  if (rc == 0 && tty) {
    rc = read_secret_line("Repeat it: ", again, sizeof again);
    if (rc == 0 && strcmp(pw, again) != 0) rc = -EINVAL;
  }
  if (rc == -EINVAL) fprintf(stderr, "fleetarc user: the two passwords differ, nothing sent\n");
  else if (rc == -E2BIG) fprintf(stderr, "fleetarc user: the password is too long\n");
  else if (rc != 0 || !pw[0]) fprintf(stderr, "fleetarc user: no new password given, nothing sent\n");
  else if (api_md5_hex(pw, strlen(pw), md5) != 0) st = CLI_EXIT_FAILED;
  else st = CLI_EXIT_OK;
  explicit_bzero(pw, sizeof pw);
  explicit_bzero(again, sizeof again);
  return st;
}

int cmd_user(const cli_context_t *ctx, int argc, char **argv) {
  const char *cmd = "user", *account = NULL, *sub = NULL, *target = NULL;
  output_format_t format = OUTPUT_TABLE;
  if (cli_wants_help(argc, argv)) {
    printf("usage: fleetarc [-c FILE] user info ACCOUNT       an account's details (API 2.11)\n"
           "       fleetarc [-c FILE] user list [ACCOUNT]     its sub-accounts (2.15; default:\n"
           "                                                  the login's own)\n"
           "       fleetarc [-c FILE] user block ACCOUNT      (2.9)\n"
           "       fleetarc [-c FILE] user unblock ACCOUNT    (2.10)\n"
           "       fleetarc [-c FILE] user set-password ACCOUNT\n"
           "              reads the new password from the terminal without echo (twice), or\n"
           "              one line from stdin when it is not a terminal; sends only its md5\n"
           "              (2.16) and never prints it\n"
           "\n"
           "  --account NAME  log in as this configured account (default: the first one)\n"
           "  --format F      table (default), json or csv\n"
           "  -h, --help      this help\n"
           "\n"
           "exit status: 0 done, 1 failed (an API error names its code), 2 bad usage or\n"
           "bad configuration\n");
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    int r = apicmd_common_option(cmd, argc, argv, &i, &account, &format);
    if (r < 0) return CLI_EXIT_USAGE;
    if (r) continue;
    if (argv[i][0] == '-') return apicmd_usage_error(cmd, "unknown option '%s'", argv[i]);
    if (!sub) sub = argv[i];
    else if (!target) target = argv[i];
    else return apicmd_usage_error(cmd, "unexpected argument '%s'", argv[i]);
  }
  if (!sub) return apicmd_usage_error(cmd, "give info, list, block, unblock or set-password");
  bool list = !strcmp(sub, "list");
  if (!target && !list) return apicmd_usage_error(cmd, "user %s needs an ACCOUNT", sub);
  api_request_t req = {0};
  int rc;
  const char *done = NULL, *what = NULL;
  if (!strcmp(sub, "info")) {
    rc = api_request_user_info(&req, target);
  } else if (list) {
    rc = api_request_user_list(&req, target);
  } else if (!strcmp(sub, "block")) {
    rc = api_request_user_block(&req, target), done = "blocked", what = "user block";
  } else if (!strcmp(sub, "unblock")) {
    rc = api_request_user_unblock(&req, target), done = "unblocked", what = "user unblock";
  } else if (!strcmp(sub, "set-password")) {
    if (!api_utf8_valid(target, strlen(target), NULL) || !*target)
      return apicmd_usage_error(cmd, "ACCOUNT must be non-empty UTF-8");
    char md5[API_MD5_HEX_LEN + 1];
    int st = read_new_password_md5(target, md5);
    if (st != CLI_EXIT_OK) return st;
    rc = api_request_user_password_set(&req, target, md5);
    explicit_bzero(md5, sizeof md5);
    done = "password set", what = "user password set";
  } else {
    return apicmd_usage_error(cmd, "unknown subcommand '%s'", sub);
  }
  if (rc != 0) return apicmd_usage_error(cmd, "ACCOUNT must be non-empty UTF-8");
  if (done) {
    const char *cells[] = {target, done};
    return apicmd_write_run(ctx, "user", account, format, &req, what, done_cols,
                            sizeof done_cols / sizeof done_cols[0], cells);
  }
  user_cmd_t u = {.format = format, .list = list};
  return apicmd_run_call(&u.c, cmd, ctx, account, &req, cb_users, &u);
}
