/* archiver_reconfigure (SIGHUP): what a new configuration changes without a restart,
 * applied in place; what needs a restart comes from the key table (config_diff). */
#include "archive/engine.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

/* ------------------------------------------------------------------ reload */

/* Appends ", what" (or "what" first) to b; NULL b is a no-op. */
static int note(buf_t *b, const char *what) {
  return b ? buf_printf(b, "%s%s", b->len ? ", " : "", what) : 0;
}

/* config_diff's callback: the changed keys that need a restart (the key table's flag:
 * what the running clients, the listener and the timers took at startup), listed. */
typedef struct restart_note {
  buf_t *restart;
  int rc;
} restart_note_t;

static void note_restart(void *ud, const char *path, bool needs_restart) {
  restart_note_t *r = ud;
  if (needs_restart) r->rc |= note(r->restart, path);
}

static acct_t *acct_by_name(archiver_t *a, const char *name) {
  for (size_t i = 0; i < a->n_accts; i++)
    if (strcmp(a->accts[i].cfg->account, name) == 0) return &a->accts[i];
  return NULL;
}

/* A fresh login for the account (a changed password, or one stopped by the platform):
 * a new netc account of the same name. The old one stays registered, unused: netc has
 * no removal; its calls in flight still end in their callbacks. */
static int acct_relogin(archiver_t *a, acct_t *ac) {
  netc_account_t *na = netc_account_add(a->net, ac->cfg->account, ac->cfg->password_md5);
  if (!na) return -ENOMEM;
  ac->na = na;
  ac->stopped = false;
  return 0;
}

/* The account leaves the configuration: its devices stop being scheduled and polled.
 * Calls in flight end normally: their rows and cursors commit together in a batch, or
 * neither does, as for any call. */
static void acct_remove(archiver_t *a, acct_t *ac) {
  size_t n = devtab_count(a->dev), k = 0;
  uint16_t idx = (uint16_t)(ac - a->accts);
  ac->removed = true;
  if (ac->poll) uv_timer_stop(&ac->poll->timer);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->account != idx || d->removed) continue;
    d->removed = 1;
    k++;
  }
  ac->n_poll = ac->poll_pos = 0;
  log_info_f(LOG_FIELDS(.account = ac->cfg->account),
      "reload: account %s removed: its %zu devices are no longer archived (calls in "
           "flight still commit)", ac->cfg->account, k);
}

/* A new account, discovered at once; or one removed by an earlier reload, back again. */
static int acct_add(archiver_t *a, const config_account_t *c) {
  acct_t *ac = acct_by_name(a, c->account);
  if (ac) { /* back after a removal: same index, its devices return with discovery */
    bool md5_changed = strcmp(ac->cfg->password_md5, c->password_md5) != 0;
    memcpy(ac->cfg->password_md5, c->password_md5, sizeof ac->cfg->password_md5);
    ac->cfg->subaccounts = c->subaccounts;
    if ((md5_changed || ac->stopped) && acct_relogin(a, ac) != 0) return -ENOMEM;
    ac->removed = false;
  } else {
    if (a->n_accts >= UINT16_MAX) return -E2BIG;
    acct_t *v = realloc(a->accts, (a->n_accts + 1) * sizeof *v);
    if (!v) return -ENOMEM;
    a->accts = v; /* no pointer into the array outlives a callback: poll timers are apart */
    ac = &a->accts[a->n_accts];
    memset(ac, 0, sizeof *ac);
    ac->a = a;
    if (!(ac->cfg = arch_acct_cfg_dup(c))) return -ENOMEM;
    if (!(ac->na = netc_account_add(a->net, c->account, c->password_md5)) ||
        poller_timer_init(a, ac) != 0) {
      arch_acct_cfg_free(ac->cfg); /* a netc account already added stays unused */
      free(ac->poll);
      return -ENOMEM;
    }
    a->n_accts++;
  }
  log_info_f(LOG_FIELDS(.account = c->account),
      "reload: account %s added: discovering its devices", c->account);
  discovery_start(a, ac);
  return 0;
}

/* Accounts added, removed, or with a new password or subaccounts flag. */
static int reload_accounts(archiver_t *a, const config_t *n, buf_t *applied) {
  int brc = 0;
  bool changed = false;
  for (size_t i = 0; i < a->n_accts; i++) {
    acct_t *ac = &a->accts[i];
    if (ac->removed || config_account_find(n, ac->cfg->account)) continue;
    acct_remove(a, ac);
    changed = true;
  }
  for (size_t j = 0; j < n->n_accounts; j++) {
    const config_account_t *c = &n->accounts[j];
    acct_t *ac = acct_by_name(a, c->account);
    if (!ac || ac->removed) {
      int rc = acct_add(a, c);
      if (rc) log_error_f(LOG_FIELDS(.account = c->account),
          "reload: account %s: cannot add it (%s): restart to archive it",
                        c->account, strerror(-rc));
      changed = true;
      continue;
    }
    bool md5_changed = strcmp(ac->cfg->password_md5, c->password_md5) != 0;
    bool subs_changed = ac->cfg->subaccounts != c->subaccounts;
    if (!md5_changed && !subs_changed && !ac->stopped) continue;
    memcpy(ac->cfg->password_md5, c->password_md5, sizeof ac->cfg->password_md5);
    ac->cfg->subaccounts = c->subaccounts;
    if (md5_changed || ac->stopped) { /* a reload also retries an account the platform stopped */
      if (acct_relogin(a, ac) != 0) {
        log_error_f(LOG_FIELDS(.account = c->account),
            "reload: account %s: cannot log in anew (out of memory): restart", c->account);
        continue;
      }
      log_info_f(LOG_FIELDS(.account = c->account),
          "reload: account %s: %s: logging in anew", c->account,
               md5_changed ? "password changed" : "was stopped");
    } else {
      log_info_f(LOG_FIELDS(.account = c->account),
          "reload: account %s: subaccounts %s: discovering again", c->account,
               c->subaccounts ? "on" : "off");
    }
    changed = true;
    discovery_start(a, ac);
  }
  if (changed) brc |= note(applied, "accounts");
  return brc;
}

int archiver_reconfigure(archiver_t *a, config_t *n, buf_t *applied, buf_t *restart) {
  if (arch_backfill(a)) {
    config_free(n);
    return -ENOTSUP;
  }
  if (a->stopping || !a->net || !a->timers_up) {
    config_free(n);
    return -ESHUTDOWN;
  }
  const config_t *o = a->cfg;
  int brc = 0;

  /* What needs a restart: from the key table (config_diff), the one list of them. */
  restart_note_t rn = {restart, 0};
  config_diff(o, n, note_restart, &rn);
  brc |= rn.rc;

  /* The pacing floors: the pacer takes them as they are. */
  bool limits = o->api.global_rate != n->api.global_rate;
  for (int ep = 0; ep < API_EP_COUNT && !limits; ep++)
    limits = config_rate_limit_ms(o, (api_endpoint_t)ep) != config_rate_limit_ms(n, (api_endpoint_t)ep);
  if (limits) {
    netc_options_t no;
    netc_options_from_config(&no, n);
    netc_set_pacing(a->net, &no);
    brc |= note(applied, "api.rate_limits, api.global_rate");
  }

  /* From here on the engine reads the new values (lookback, batch size and delay). */
  a->cfg = n;
  if (o->archive.lookback_ms != n->archive.lookback_ms) brc |= note(applied, "archive.lookback");
  if (o->archive.gap_settle_ms != n->archive.gap_settle_ms || o->archive.gap_min_ms != n->archive.gap_min_ms ||
      o->archive.gap_max_attempts != n->archive.gap_max_attempts) {
    gapheal_options_t ho = heal_options(n);
    gapheal_set_options(a->heal, &ho);
    brc |= note(applied, "archive.gap_settle, archive.gap_min, archive.gap_max_attempts");
  }
  /* The alarm cadence: the scheduler's options, set below; applied at its next look. */
  if (o->archive.alarm_interval_ms != n->archive.alarm_interval_ms)
    brc |= note(applied, "archive.alarm_interval");
  if (o->archive.alarm_idle_interval_ms != n->archive.alarm_idle_interval_ms)
    brc |= note(applied, "archive.alarm_idle_interval");
  if (o->database.batch_rows != n->database.batch_rows) brc |= note(applied, "database.batch_rows");
  if (o->database.flush_interval_ms != n->database.flush_interval_ms)
    brc |= note(applied, "database.flush_interval");
  if (o->archive.discovery_interval_ms != n->archive.discovery_interval_ms) {
    uint64_t every = (uint64_t)n->archive.discovery_interval_ms;
    uint64_t due = uv_timer_get_due_in(&a->discovery_timer);
    uv_timer_start(&a->discovery_timer, discovery_on_timer, due < every ? due : every, every);
    brc |= note(applied, "archive.discovery_interval");
  }
  if (o->archive.track_interval_ms != n->archive.track_interval_ms) {
    for (size_t i = 0; i < a->n_accts; i++) {
      acct_t *ac = &a->accts[i];
      if (!ac->removed && ac->poll && ac->poll->running)
        poller_schedule(a, ac); /* the spreading over the new interval */
    }
    brc |= note(applied, "archive.track_interval");
  }
  if (a->opt.streams != n->archive.streams) {
    for (int s = 0; s < STREAM_COUNT; s++) {
      bool was = arch_stream_on(a, s), now = (n->archive.streams & STREAM_BIT(s)) != 0;
      if (was != now)
        log_info("reload: stream %s %s", stream_name(s),
                 now ? "on: from each device's committed cursor (or lookback)"
                     : "off: no new requests; those in flight still commit");
    }
    a->opt.streams = n->archive.streams;
    brc |= note(applied, "archive.streams");
  }
  /* The scheduler's streams and alarm cadence, in force from here on. */
  sched_options_t so = arch_sched_options(a, n);
  sched_set_options(a->sched, &so);
  brc |= reload_accounts(a, n, applied);

  config_free(a->owned_cfg); /* nothing points into it: accounts keep copies */
  a->owned_cfg = n;
  sched_mark_all(a->sched); /* streams, accounts and lookback may make any device due */
  sched_pump(a->sched);
  return brc ? -ENOMEM : 0;
}

const struct config *archiver_config(const archiver_t *a) { return a->cfg; }

