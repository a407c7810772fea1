/* `fleetarc check`: validate the configuration; then (without --offline) reach the
 * database and read its schema state, and log in to every account with one cheap call.
 * Exit 0 only when everything passed: a service about to start needs all of it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/api.h"
#include "api/endpoints.h"
#include "cli/cli.h"
#include "config/config.h"
#include "db/migrate.h"
#include "net/client.h"
#include "net/tokenstore.h"
#include "util/buf.h"
#include "util/coredump.h"
#include "util/grow.h"
#include "util/log.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: fleetarc [-c FILE] check [--offline]\n"
          "\n"
          "Validates the configuration, then reaches the database (and says whether its\n"
          "schema is up to date) and logs in to every account, counting its devices as\n"
          "discovery does (with subaccounts, those of its sub-accounts too).\n"
          "Each check prints one line; secrets are never printed. Also printed: whether\n"
          "core dumps are off, and warnings (never a failure) for an http:// api.base_url\n"
          "beyond loopback, metrics.listen beyond loopback without metrics.auth, and a\n"
          "token_dir that is refused (another user's, or group/world-writable).\n"
          "\n"
          "  --offline   only validate the configuration and print it resolved, defaults\n"
          "              filled in and secrets masked\n"
          "  -h, --help  this help\n"
          "\n"
          "exit status: 0 every check passed, 1 a check failed (database unreachable,\n"
          "migrations pending, a login refused...), 2 bad usage or bad configuration\n");
}

/* What the configuration exposes, the token store and the core dump state: warnings
 * (one line each, to out) that never fail the check. */
static void print_exposure(const config_t *cfg, FILE *out, bool online) {
  buf_t w = BUF_INIT;
  if (config_warnings(cfg, &w) > 0 && w.data) {
    for (const char *p = w.data; *p;) {
      size_t n = strcspn(p, "\n");
      fprintf(out, "warning: %.*s\n", (int)n, p);
      p += n + (p[n] == '\n');
    }
  }
  buf_free(&w);
  if (!online) return;
  if (cfg->api.token_dir && cfg->api.token_dir[0]) {
    char why[200];
    if (tokenstore_dir_check(cfg->api.token_dir, why, sizeof why) != 0)
      fprintf(out, "warning: token store %s refused: %s (logins are then coordinated within "
                   "each process only)\n", cfg->api.token_dir, why);
  }
  char cores[160];
  coredump_describe(cores, sizeof cores);
  fprintf(out, "core dumps: %s\n", cores);
}

/* The database: reachable, and its schema the one this binary expects. */
static bool check_database(const config_t *cfg) {
  int applied = 0, latest = 0;
  size_t pending = 0;
  char err[512];
  int rc = db_check(cfg->database.conninfo, &applied, &latest, &pending, err, sizeof err);
  if (rc == -EIO) {
    printf("database: FAILED: %s\n", err);
    return false;
  }
  if (rc != 0) {
    printf("database: reachable; FAILED: %s\n", err);
    return false;
  }
  if (pending) {
    printf("database: reachable; FAILED: %zu migration%s pending (schema version %d, this "
           "fleetarc needs %d): run fleetarc migrate\n",
           pending, pending == 1 ? "" : "s", applied, latest);
    return false;
  }
  printf("database: reachable, schema up to date (version %d)\n", applied);
  return true;
}

/* ------------------------------------------------------------------ logins */

typedef struct login_check login_check_t;

typedef struct login_one {
  login_check_t *lc;
  const config_account_t *acct;
  netc_account_t *na;
  bool answered, ok, failed;
  size_t devices;   /* distinct IMEIs over the account and its sub-accounts */
  size_t own;       /* of them, listed by the account itself */
  char what[1024];  /* the failure, without secrets */
  /* Counted as discovery counts: the account's device list, and with subaccounts the
   * device lists of every sub-account found by /api/user/list, recursively. */
  size_t pending;   /* list calls out */
  char **imeis, **visited;
  size_t n_imeis, cap_imeis, n_visited;
} login_one_t;

typedef struct login_call {
  login_one_t *o;
  bool userlist;
  char owner[128];
} login_call_t;

struct login_check {
  uv_loop_t loop;
  netc_t *net;
  login_one_t *items;
  size_t n, pending;
};

static void on_net_closed(void *arg) { (void)arg; }

static int list_call(login_one_t *o, bool userlist, const char *owner);

static int add_imei(login_one_t *o, const char *imei) {
  if (GROW(o->imeis, o->cap_imeis, o->n_imeis + 1) != 0) return -ENOMEM;
  if (!(o->imeis[o->n_imeis] = strdup(imei))) return -ENOMEM;
  o->n_imeis++;
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void login_done(login_one_t *o) {
  login_check_t *lc = o->lc;
  o->answered = true;
  if (!o->failed) {
    qsort(o->imeis, o->n_imeis, sizeof *o->imeis, cmp_str);
    for (size_t i = 0; i < o->n_imeis; i++)
      if (i == 0 || strcmp(o->imeis[i], o->imeis[i - 1]) != 0) o->devices++;
    o->ok = true;
  }
  if (--lc->pending == 0 && lc->net) {
    netc_t *n = lc->net;
    lc->net = NULL;
    netc_close(n, on_net_closed, NULL);
  }
}

static void cb_list(void *arg, const net_result_t *res) {
  login_call_t *c = arg;
  login_one_t *o = c->o;
  bool own = strcmp(c->owner, o->acct->account) == 0;
  char where[200] = "";
  if (!own) snprintf(where, sizeof where, " of sub-account %s", c->owner);
  if (o->failed) {
    /* the first failure is the account's; the rest only finish */
  } else if (res->error == NET_OK) {
    api_error_t err;
    if (c->userlist) {
      api_users_t users = {0};
      if (api_parse_user_list(res->body, res->body_len, &users, &err) != 0) {
        o->failed = true;
        snprintf(o->what, sizeof o->what, "logged in, but the user list%s is not understood (%s)",
                 where, err.message);
      }
      for (size_t i = 0; !o->failed && i < users.n; i++) {
        const char *name = users.items[i].account;
        bool seen = strcmp(name, o->acct->account) == 0;
        for (size_t k = 0; k < o->n_visited && !seen; k++) seen = strcmp(o->visited[k], name) == 0;
        if (seen) continue;
        char **v = realloc(o->visited, (o->n_visited + 1) * sizeof *v);
        if (v) o->visited = v;
        if (!v || !(o->visited[o->n_visited] = strdup(name)) || list_call(o, false, name) != 0 ||
            list_call(o, true, name) != 0) {
          if (v && o->visited[o->n_visited]) o->n_visited++;
          o->failed = true;
          snprintf(o->what, sizeof o->what, "out of memory");
          break;
        }
        o->n_visited++;
      }
      api_users_free(&users);
    } else {
      api_devices_t devs = {0};
      if (api_parse_device_list(res->body, res->body_len, &devs, &err) == 0) {
        if (own) o->own = devs.n;
        for (size_t i = 0; i < devs.n && !o->failed; i++)
          if (add_imei(o, devs.items[i].imei) != 0) {
            o->failed = true;
            snprintf(o->what, sizeof o->what, "out of memory");
          }
      } else {
        o->failed = true;
        snprintf(o->what, sizeof o->what, "logged in, but the device list%s is not understood (%s)",
                 where, err.message);
      }
      api_devices_free(&devs);
    }
  } else if (res->error == NET_ERR_API && res->code == API_CODE_NO_DATA) {
    /* 20023: a sub-account with no devices or no sub-accounts of its own */
  } else if (res->error == NET_ERR_API || (res->error == NET_ERR_ACCOUNT && res->code)) {
    const char *text = api_code_text(res->code);
    o->failed = true;
    snprintf(o->what, sizeof o->what, "%s%s: API error %d: %s",
             res->error == NET_ERR_ACCOUNT ? "login refused" : api_endpoint_path(res->endpoint),
             res->error == NET_ERR_ACCOUNT ? "" : where, res->code,
             text ? text : "(a code the spec does not list)");
  } else {
    o->failed = true;
    snprintf(o->what, sizeof o->what, "%s%s: %s", api_endpoint_path(res->endpoint), where,
             res->message && *res->message ? res->message : "failed");
  }
  free(c);
  if (--o->pending == 0) login_done(o);
}

static int list_call(login_one_t *o, bool userlist, const char *owner) {
  login_call_t *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  c->o = o;
  c->userlist = userlist;
  snprintf(c->owner, sizeof c->owner, "%s", owner);
  bool own = strcmp(owner, o->acct->account) == 0;
  api_request_t req = {0};
  int rc = userlist ? api_request_user_list(&req, own ? NULL : owner)
                    : api_request_device_list(&req, own ? NULL : owner);
  if (rc == 0) rc = netc_call(o->lc->net, o->na, &req, cb_list, c);
  api_request_free(&req);
  if (rc) {
    free(c);
    return rc;
  }
  o->pending++;
  return 0;
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Logs in to every account at once (each its own login) and prints one line each. */
static bool check_logins(const config_t *cfg) {
  login_check_t lc = {0};
  bool all_ok = true;
  if (uv_loop_init(&lc.loop) != 0) {
    printf("accounts: FAILED: cannot create an event loop\n");
    return false;
  }
  lc.items = calloc(cfg->n_accounts, sizeof *lc.items);
  netc_options_t opt;
  netc_options_from_config(&opt, cfg);
  if (lc.items) lc.net = netc_new(&lc.loop, &opt);
  if (!lc.items || !lc.net) {
    printf("accounts: FAILED: out of memory\n");
    all_ok = false;
    goto out;
  }
  for (size_t i = 0; i < cfg->n_accounts; i++) {
    login_one_t *o = &lc.items[lc.n++];
    o->lc = &lc;
    o->acct = &cfg->accounts[i];
    snprintf(o->what, sizeof o->what, "no answer");
    if (o->acct->credential_error[0]) {
      o->answered = true;
      snprintf(o->what, sizeof o->what, "no password here: %s", o->acct->credential_error);
      continue;
    }
    o->na = netc_account_add(lc.net, o->acct->account, o->acct->password_md5);
    int rc = o->na ? list_call(o, false, o->acct->account) : -ENOMEM;
    if (rc == 0 && o->acct->subaccounts && list_call(o, true, o->acct->account) != 0) {
      o->failed = true; /* the device list is out: its answer ends the account */
      snprintf(o->what, sizeof o->what, "cannot send the request: out of memory");
    }
    if (rc == 0) {
      lc.pending++;
    } else {
      o->answered = true;
      snprintf(o->what, sizeof o->what, "cannot send the request: %s", strerror(-rc));
    }
  }
  if (lc.pending == 0) {
    netc_t *n = lc.net;
    lc.net = NULL;
    netc_close(n, on_net_closed, NULL);
  }
  uv_run(&lc.loop, UV_RUN_DEFAULT);
  for (size_t i = 0; i < lc.n; i++) {
    login_one_t *o = &lc.items[i];
    if (o->ok) {
      if (o->n_visited)
        printf("account %s: ok (%zu device%s: %zu of its own, the rest of %zu sub-account%s)\n",
               o->acct->account, o->devices, o->devices == 1 ? "" : "s", o->own, o->n_visited,
               o->n_visited == 1 ? "" : "s");
      else
        printf("account %s: ok (%zu device%s)\n", o->acct->account, o->devices,
               o->devices == 1 ? "" : "s");
    } else {
      printf("account %s: FAILED: %s\n", o->acct->account, o->what);
      all_ok = false;
    }
  }
out:
  if (lc.net) {
    netc_close(lc.net, on_net_closed, NULL);
    lc.net = NULL;
    uv_run(&lc.loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&lc.loop) != 0) {
    uv_walk(&lc.loop, on_walk_close, NULL);
    uv_run(&lc.loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&lc.loop);
    printf("accounts: FAILED: handles left open\n");
    all_ok = false;
  }
  for (size_t i = 0; lc.items && i < lc.n; i++) {
    login_one_t *o = &lc.items[i];
    for (size_t k = 0; k < o->n_imeis; k++) free(o->imeis[k]);
    for (size_t k = 0; k < o->n_visited; k++) free(o->visited[k]);
    free(o->imeis);
    free(o->visited);
  }
  free(lc.items);
  return all_ok;
}

int cmd_check(const cli_context_t *ctx, int argc, char **argv) {
  bool offline = false;
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--offline")) {
      offline = true;
    } else {
      fprintf(stderr, "fleetarc check: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }

  buf_t errors = BUF_INIT;
  config_t *cfg = NULL;
  int rc = config_load_file(ctx->config_path, &cfg, &errors);
  if (rc != 0) {
    if (errors.len) fputs(errors.data, stderr);
    else fprintf(stderr, "%s: %s\n", ctx->config_path, strerror(-rc));
    fprintf(stderr, "fleetarc check: the configuration %s is not valid\n", ctx->config_path);
    buf_free(&errors);
    return rc == -ENOMEM ? CLI_EXIT_FAILED : CLI_EXIT_USAGE;
  }
  buf_free(&errors);

  int status = CLI_EXIT_OK;
  if (offline) {
    print_exposure(cfg, stderr, false); /* stdout is YAML */
    config_print(cfg, stdout);
    /* valid all the same: only the commands that log in need the password */
    for (size_t i = 0; i < cfg->n_accounts; i++)
      if (cfg->accounts[i].credential_error[0])
        fprintf(stderr, "note: %s (the commands that log in will need it)\n",
                cfg->accounts[i].credential_error);
  } else {
    /* The report is the output; the client's info lines (logins) would only repeat it. */
    log_set_level(cfg->log.level == LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    log_set_format(cfg->log.format);
    printf("configuration %s: valid (%zu account%s)\n", ctx->config_path, cfg->n_accounts,
           cfg->n_accounts == 1 ? "" : "s");
    print_exposure(cfg, stdout, true);
    fflush(stdout);
    bool db_ok = check_database(cfg);
    fflush(stdout);
    bool logins_ok = check_logins(cfg);
    if (!db_ok || !logins_ok) {
      status = CLI_EXIT_FAILED;
      fprintf(stderr, "fleetarc check: failed (%s%s%s)\n", db_ok ? "" : "database",
              !db_ok && !logins_ok ? ", " : "", logins_ok ? "" : "accounts");
    }
  }
  if (fflush(stdout) != 0 || ferror(stdout)) status = CLI_EXIT_FAILED;
  config_free(cfg);
  return status;
}
