/* Discovery of the archiver: device/list and user/list of each account (sub-accounts
 * to a bounded depth), devices added, moved between accounts or removed. Invariant: a
 * device is removed only after a complete listing of its account. */
#include "archive/engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static int list_call(archiver_t *a, acct_t *ac, work_kind_t kind, const char *owner,
                     uint16_t depth);

/* Whether a device or user list answered (decode_work parsed it into a->devices or
 * a->users); its refused records are counted. A failure makes this discovery of the
 * account incomplete (no removal sweep) and is logged unless cancelled or stopped. */
static bool list_ok(archiver_t *a, acct_t *ac, work_t *w, const net_result_t *res,
                    const char *endpoint) {
  int ok = arch_response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2;
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, endpoint, NULL, &a->rejects);
  if (ok == 0) return true;
  ac->disc_failed = true;
  if (res->error != NET_ERR_CANCELLED && !ac->stopped) {
    a->n_errors++;
    log_warn_f(LOG_FIELDS(.account = ac->cfg->account, .endpoint = endpoint),
        "account %s: /api/%s of %s: %s", ac->cfg->account, endpoint, w->owner,
             ok == -2 ? res->decode_message : res->message);
  }
  return false;
}

void discovery_apply_devlist(archiver_t *a, work_t *w, const net_result_t *res) {
  acct_t *ac = &a->accts[w->acct];
  if (ac->removed) return; /* a reload dropped the account while the list was out */
  if (!list_ok(a, ac, w, res, "device/list")) return;
  int rc = commit_batch(a) ? 0 : -ENOMEM;
  for (size_t i = 0; i < a->devices.n && rc == 0; i++) {
    const api_device_t *x = &a->devices.items[i];
    bool added = false;
    devtab_device_t *d = devtab_get_or_add(a->dev, x->imei, &added);
    if (!d) {
      log_warn_f(LOG_FIELDS(.account = ac->cfg->account),
          "account %s: device list of %s: skipping IMEI '%s'", ac->cfg->account, w->owner,
               x->imei);
      continue;
    }
    if (added) arch_device_init(a, d);
    /* Listed again (or anew), or by another account (stopped or not): may be due. */
    if (d->removed || d->account != w->acct) sched_mark_device(a->sched, (uint32_t)devtab_index(a->dev, d));
    if (d->removed) {
      /* The first discovery re-lists the devices known from the database: not news. */
      if (!arch_backfill(a) && (added || a->disc.first_done))
        log_info_f(LOG_FIELDS(.account = w->owner, .imei = d->imei), "device %s added (account %s)", d->imei, w->owner);
      d->removed = 0;
    }
    d->seen = 1;
    d->account = w->acct;
    pgw_device_t pd = {
        .imei = x->imei, .account = w->owner, .devicename = x->devicename,
        .devicetype = x->devicetype, .platenumber = x->platenumber, .simcard = x->simcard,
        .iccid = x->iccid, .onlinetime = x->onlinetime > 0 ? x->onlinetime : 0,
        .platformduetime = x->platformduetime > 0 ? x->platformduetime : 0,
        .activatedtime = x->activatedtime > 0 ? x->activatedtime : 0,
        .userduetime = x->userduetime > 0 ? x->userduetime : 0};
    rc = pgw_batch_add_device(a->commit.batch, &pd);
  }
  if (rc) log_error_f(LOG_FIELDS(.account = ac->cfg->account),
      "account %s: cannot add devices to the batch", ac->cfg->account);
}

void discovery_apply_userlist(archiver_t *a, work_t *w, const net_result_t *res) {
  acct_t *ac = &a->accts[w->acct];
  if (ac->removed) return;
  if (!list_ok(a, ac, w, res, "user/list")) return;
  /* Copy the names first: the next parse (from a nested call) would reuse the storage. */
  size_t n = a->users.n;
  char **names = calloc(n + 1, sizeof *names);
  size_t max_subs = (size_t)a->cfg->archive.max_subaccounts;
  uint16_t depth = (uint16_t)(w->depth + 1);
  for (size_t i = 0; names && i < n; i++) names[i] = strdup(a->users.items[i].account);
  for (size_t i = 0; names && i < n; i++) {
    if (!names[i] || nameset_has(&ac->visited, names[i]) || strcmp(names[i], ac->cfg->account) == 0)
      continue;
    /* Caps: a user/list that never ends (or a tree deeper than any real one) must not
     * grow memory and requests without bound. What is left out makes the discovery
     * incomplete: no device is removed on it. */
    if (ac->visited.n >= max_subs || depth > a->cfg->archive.max_subaccount_depth) {
      ac->disc_failed = true;
      if (!ac->cap_logged)
        log_warn_f(LOG_FIELDS(.account = ac->cfg->account),
            "account %s: discovery stopped at %s (archive.%s %d): sub-accounts beyond it "
                 "are not listed; this discovery is incomplete", ac->cfg->account,
                 ac->visited.n >= max_subs ? "the sub-account cap" : "the depth cap",
                 ac->visited.n >= max_subs ? "max_subaccounts" : "max_subaccount_depth",
                 ac->visited.n >= max_subs ? a->cfg->archive.max_subaccounts
                                           : a->cfg->archive.max_subaccount_depth);
      ac->cap_logged = true;
      break;
    }
    if (nameset_add(&ac->visited, names[i]) < 0) {
      ac->disc_failed = true;
      continue;
    }
    if (list_call(a, ac, W_DEVLIST, names[i], depth) != 0 ||
        list_call(a, ac, W_USERLIST, names[i], depth) != 0)
      ac->disc_failed = true;
  }
  for (size_t i = 0; names && i < n; i++) free(names[i]);
  free(names);
}

/* ------------------------------------------------------------------ discovery */

static int list_call(archiver_t *a, acct_t *ac, work_kind_t kind, const char *owner,
                     uint16_t depth) {
  work_t *w = calloc(1, sizeof *w);
  if (!w) return -ENOMEM;
  *w = (work_t){.a = a, .kind = kind, .acct = (uint16_t)(ac - a->accts), .depth = depth};
  snprintf(w->owner, sizeof w->owner, "%s", owner);
  bool own = strcmp(owner, ac->cfg->account) == 0;
  api_request_t req = {0};
  int rc = kind == W_DEVLIST ? api_request_device_list(&req, own ? NULL : owner)
                             : api_request_user_list(&req, own ? NULL : owner);
  if (rc == 0) rc = arch_call(a, ac, &req, w);
  if (rc) {
    free(w);
    return rc;
  }
  ac->disc_pending++;
  return 0;
}

void discovery_start(archiver_t *a, acct_t *ac) {
  if (ac->stopped || ac->removed || ac->disc_pending > 0) return;
  if (!arch_acct_held(a, (size_t)(ac - a->accts))) return; /* its holder discovers it */
  ac->disc_failed = false;
  ac->cap_logged = false;
  nameset_clear(&ac->visited);
  a->disc.accounts_pending++;
  ac->disc_pending++; /* held until both first calls are out */
  if (list_call(a, ac, W_DEVLIST, ac->cfg->account, 0) != 0) ac->disc_failed = true;
  if (ac->cfg->subaccounts && list_call(a, ac, W_USERLIST, ac->cfg->account, 0) != 0)
    ac->disc_failed = true;
  discovery_step_done(a, ac);
}

/* Run, once, when every account's first discovery has ended: the devices known from the
 * database (their cursors) that no account listed stay inactive, quietly, and are
 * recorded as removed (a no-op for those removed before). One info line says how many.
 * Which account held such a device is unknown, so one incomplete listing (or a stopped
 * account) leaves the database as it is. */
static void sweep_known(archiver_t *a) {
  if (a->disc.first_done) return;
  a->disc.first_done = true;
  bool complete = true;
  for (size_t i = 0; i < a->n_accts; i++)
    if (a->accts[i].disc_failed || a->accts[i].stopped || !arch_acct_held(a, i)) complete = false;
  size_t n = devtab_count(a->dev), inactive = 0;
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (!d->removed) continue;
    inactive++;
    if (complete && (!commit_batch(a) || pgw_batch_mark_removed(a->commit.batch, d->imei) != 0))
      log_error_f(LOG_FIELDS(.imei = d->imei),
          "device %s: cannot record its removal (out of memory)", d->imei);
  }
  if (inactive)
    log_info("%zu known device%s not listed by any account: inactive%s", inactive,
             inactive == 1 ? "" : "s",
             complete ? "" : " (a listing was incomplete: their removal is not recorded)");
}

void discovery_step_done(archiver_t *a, acct_t *ac) {
  if (--ac->disc_pending > 0) return;
  a->disc.accounts_pending--;
  size_t n = devtab_count(a->dev), listed = 0;
  uint16_t idx = (uint16_t)(ac - a->accts);
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (d->account != idx) continue;
    /* Sweep only after a complete listing: a failed page must not remove devices. */
    if (!d->seen && !d->removed && !ac->disc_failed && !arch_backfill(a)) {
      d->removed = 1;
      log_info_f(LOG_FIELDS(.imei = d->imei),
          "device %s removed (no longer listed by account %s): not archived any more",
               d->imei, ac->cfg->account);
      if (!commit_batch(a) || pgw_batch_mark_removed(a->commit.batch, d->imei) != 0)
        log_error_f(LOG_FIELDS(.imei = d->imei),
            "device %s: cannot record its removal (out of memory)", d->imei);
    }
    if (d->seen) listed++;
    d->seen = 0;
  }
  log_info_f(LOG_FIELDS(.account = ac->cfg->account),
      "account %s: discovery found %zu devices%s", ac->cfg->account, listed,
           ac->disc_failed ? " (incomplete: some lists failed)" : "");
  if (!arch_backfill(a) && a->disc.accounts_pending == 0) sweep_known(a);
  poller_rebuild(a, ac);
  if (arch_backfill(a)) {
    if (ac->disc_failed && !ac->stopped) {
      a->disc.incomplete = true;
      log_error_f(LOG_FIELDS(.account = ac->cfg->account),
          "account %s: a device list failed: this backfill cannot cover every device",
                ac->cfg->account);
    }
    if (ac->stopped) return;
    /* One track poll per 100 devices: a device whose last report is before the range
     * (or that never reported) costs no playback request. */
    for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) a->polls.pending++;
    for (size_t k = 0; k < ac->n_poll; k += API_MAX_IMEIS) poller_chunk(a, ac, k);
  } else {
    poller_schedule(a, ac);
  }
  if (a->commit.batch) commit_submit(a); /* the devices rows early */
}

void discovery_on_timer(uv_timer_t *t) {
  archiver_t *a = t->data;
  if (a->stopping) return;
  for (size_t i = 0; i < a->n_accts; i++) discovery_start(a, &a->accts[i]);
}

