/* The shared runtime of the API one-off commands: configuration, one account, netc on a
 * private loop, and the close sequence that leaves uv_loop_close() with nothing open. */
#include "cli/apicmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/timeparse.h"

int apicmd_load(apicmd_t *c, const char *name, const cli_context_t *ctx, const char *account) {
  memset(c, 0, sizeof *c);
  c->name = name;
  int st = cli_config_read(ctx, name, &c->cfg);
  if (st != CLI_EXIT_OK) return st;
  /* The output is the answer: the service's info lines (logins) would only be noise on a
   * terminal; warnings and errors stay, and log.level: debug still shows everything. */
  log_set_level(c->cfg->log.level == LOG_LEVEL_DEBUG ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN);
  log_set_format(c->cfg->log.format);
  c->acct = account ? config_account_find(c->cfg, account) : &c->cfg->accounts[0];
  if (!c->acct) {
    fprintf(stderr, "fleetarc %s: no account '%s' in %s\n", name, account, ctx->config_path);
    config_free(c->cfg);
    c->cfg = NULL;
    return CLI_EXIT_USAGE;
  }
  if ((st = cli_credentials(c->cfg, name, c->acct->account)) != CLI_EXIT_OK) {
    config_free(c->cfg);
    c->cfg = NULL;
    c->acct = NULL;
    return st;
  }
  return CLI_EXIT_OK;
}

static void on_timer(uv_timer_t *t) {
  apicmd_t *c = t->data;
  if (!c->finished && c->on_timer) c->on_timer(c);
}

int apicmd_start(apicmd_t *c) {
  int rc = uv_loop_init(&c->loop);
  if (rc) return rc;
  c->loop_inited = true;
  if ((rc = uv_timer_init(&c->loop, &c->timer)) != 0) return rc;
  c->timer.data = c;
  netc_options_t opt;
  netc_options_from_config(&opt, c->cfg);
  if (!(c->net = netc_new(&c->loop, &opt))) return -ENOMEM;
  if (!(c->na = netc_account_add(c->net, c->acct->account, c->acct->password_md5))) return -ENOMEM;
  return 0;
}

void apicmd_after(apicmd_t *c, uint64_t ms, void (*fn)(apicmd_t *c)) {
  c->on_timer = fn;
  if (uv_timer_start(&c->timer, on_timer, ms, 0) != 0) {
    fprintf(stderr, "fleetarc %s: cannot arm a timer\n", c->name);
    apicmd_finish(c, CLI_EXIT_FAILED);
  }
}

void apicmd_finish(apicmd_t *c, int status) {
  if (c->finished) return;
  c->finished = true;
  c->status = status;
  if (c->loop_inited && !uv_is_closing((uv_handle_t *)&c->timer)) {
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, NULL);
  }
  if (c->net) {
    netc_t *n = c->net;
    c->net = NULL; /* pending calls end with NET_ERR_CANCELLED: callbacks see finished */
    netc_close(n, NULL, NULL);
  }
}

void apicmd_call(apicmd_t *c, api_request_t *req, netc_response_cb cb, void *arg) {
  if (c->finished || !c->net) {
    api_request_free(req);
    return;
  }
  int rc = netc_call(c->net, c->na, req, cb, arg);
  if (rc != 0) {
    fprintf(stderr, "fleetarc %s: cannot send %s: %s\n", c->name,
            api_endpoint_path(req->endpoint), strerror(-rc));
    api_request_free(req);
    apicmd_finish(c, CLI_EXIT_FAILED);
  }
}

void apicmd_fail(apicmd_t *c, const net_result_t *res, const char *what) {
  if (c->finished) return; /* a cancelled call after the end: nothing to say */
  const char *ep = api_endpoint_path(res->endpoint);
  if (res->error == NET_ERR_API || (res->error == NET_ERR_ACCOUNT && res->code)) {
    const char *text = api_code_text(res->code);
    fprintf(stderr, "fleetarc %s: %s%s%s: API error %d: %s\n", c->name, what ? what : "",
            what ? ": " : "", ep, res->code, text ? text : "(a code the spec does not list)");
  } else {
    fprintf(stderr, "fleetarc %s: %s%s%s: %s\n", c->name, what ? what : "", what ? ": " : "", ep,
            res->message && *res->message ? res->message : "failed");
  }
  apicmd_finish(c, CLI_EXIT_FAILED);
}

void apicmd_fail_parse(apicmd_t *c, const api_error_t *err, const char *what) {
  if (c->finished) return;
  if (err->kind == API_ERR_SERVER) {
    const char *text = api_code_text(err->code);
    fprintf(stderr, "fleetarc %s: %s: API error %d: %s\n", c->name, what, err->code,
            text ? text : "(a code the spec does not list)");
  } else {
    fprintf(stderr, "fleetarc %s: %s: the answer is not understood (%s: %s)\n", c->name, what,
            api_error_kind_name(err->kind), err->message);
  }
  apicmd_finish(c, CLI_EXIT_FAILED);
}

static void on_walk_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int apicmd_run(apicmd_t *c) {
  if (c->loop_inited) {
    if (!c->net) apicmd_finish(c, CLI_EXIT_FAILED); /* start failed half-way */
    uv_run(&c->loop, UV_RUN_DEFAULT);
    if (!c->finished) { /* the loop ran dry without an answer: a broken invariant */
      fprintf(stderr, "fleetarc %s: stopped without an answer\n", c->name);
      apicmd_finish(c, CLI_EXIT_FAILED);
      uv_run(&c->loop, UV_RUN_DEFAULT);
    }
    if (uv_loop_close(&c->loop) != 0) {
      fprintf(stderr, "fleetarc %s: handles left open at exit\n", c->name);
      uv_walk(&c->loop, on_walk_close, NULL);
      uv_run(&c->loop, UV_RUN_DEFAULT);
      (void)uv_loop_close(&c->loop);
      c->status = CLI_EXIT_FAILED;
    }
  } else if (!c->finished) {
    c->status = CLI_EXIT_FAILED;
  }
  config_free(c->cfg);
  c->cfg = NULL;
  return c->status;
}

int apicmd_print(apicmd_t *c, const output_t *o, output_format_t f) {
  if (output_write(o, f, stdout) != 0) {
    fprintf(stderr, "fleetarc %s: cannot write the output\n", c->name);
    return CLI_EXIT_FAILED;
  }
  return CLI_EXIT_OK;
}

int apicmd_print_row(apicmd_t *c, const output_column_t *cols, size_t ncols,
                     const char *const *cells, output_format_t f) {
  output_t *o = output_new(cols, ncols);
  int st = o && output_row(o, cells) == 0 ? apicmd_print(c, o, f) : CLI_EXIT_FAILED;
  output_free(o);
  return st;
}

/* load, start, then first work: the part every command's run shares */
static int run_with(apicmd_t *c, const char *name, const cli_context_t *ctx, const char *account,
                    void (*first)(apicmd_t *c), api_request_t *req, netc_response_cb cb,
                    void *arg) {
  int st = apicmd_load(c, name, ctx, account);
  if (st == CLI_EXIT_OK) {
    if (apicmd_start(c) != 0) apicmd_finish(c, CLI_EXIT_FAILED);
    else if (first) first(c);
    else apicmd_call(c, req, cb, arg);
  }
  api_request_free(req); /* NULL is a no-op */
  return st == CLI_EXIT_OK ? apicmd_run(c) : st;
}

int apicmd_run_call(apicmd_t *c, const char *name, const cli_context_t *ctx,
                    const char *account, api_request_t *req, netc_response_cb cb, void *arg) {
  return run_with(c, name, ctx, account, NULL, req, cb, arg);
}

int apicmd_run_chain(apicmd_t *c, const char *name, const cli_context_t *ctx,
                     const char *account, void (*first)(apicmd_t *c)) {
  return run_with(c, name, ctx, account, first, NULL, NULL, NULL);
}

bool apicmd_is_imei(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > API_IMEI_MAX) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int apicmd_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "fleetarc %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see fleetarc %s --help)\n", cmd);
  return CLI_EXIT_USAGE;
}

int apicmd_common_option(const char *cmd, int argc, char **argv, int *i, const char **account,
                         output_format_t *format) {
  const char *v;
  int r = cli_option(cmd, argc, argv, i, "--account", &v);
  if (r == 1) *account = v;
  if (r) return r;
  if (!format) return 0;
  r = cli_option(cmd, argc, argv, i, "--format", &v);
  if (r == 1 && output_format_parse(v, format) != 0) {
    apicmd_usage_error(cmd, "--format must be table, json or csv, not '%s'", v);
    return -1;
  }
  return r;
}

/* A request whose answer is only {"code":0}: one row saying what was done. */
typedef struct write_cmd {
  apicmd_t c;
  output_format_t format;
  const char *what;                /* for errors: "geofence create" */
  const output_column_t *cols;
  size_t ncols;
  const char *const *cells;
} write_cmd_t;

static void cb_write(void *arg, const net_result_t *res) {
  write_cmd_t *w = arg;
  if (res->error != NET_OK) return apicmd_fail(&w->c, res, w->what);
  apicmd_finish(&w->c, apicmd_print_row(&w->c, w->cols, w->ncols, w->cells, w->format));
}

int apicmd_write_run(const cli_context_t *ctx, const char *cmd, const char *account,
                     output_format_t format, api_request_t *req, const char *what,
                     const output_column_t *cols, size_t ncols, const char *const *cells) {
  write_cmd_t w = {.format = format, .what = what, .cols = cols, .ncols = ncols, .cells = cells};
  return apicmd_run_call(&w.c, cmd, ctx, account, req, cb_write, &w);
}

const char *apicmd_time_text(int64_t t, char *out, size_t n) {
  if (t <= 0) {
    if (n) out[0] = '\0';
    return out;
  }
  return timeparse_format_time(t, out, n);
}
