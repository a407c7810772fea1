/* One API call of the archiver: its work item (what was asked, so that the answer can
 * be applied), the decoder netc runs on the body, and the dispatch of the answer to the
 * module that asked (pages, heal, poller, discovery). Every call out is on one explicit
 * list, the in-flight queue: shutdown waits for it to empty, a backfill submits its
 * batch when it is empty. */
#include "archive/engine.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/log.h"

static void calls_link(calls_t *q, work_t *w) {
  w->prev = NULL;
  w->next = q->head;
  if (q->head) q->head->prev = w;
  q->head = w;
  q->n[w->kind]++;
  q->total++;
}

static void calls_unlink(calls_t *q, work_t *w) {
  if (w->prev) w->prev->next = w->next;
  else q->head = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
  q->n[w->kind]--;
  q->total--;
}

static void account_stop(archiver_t *a, acct_t *ac, const net_result_t *res) {
  if (ac->stopped) return;
  ac->stopped = true;
  ac->stop_code = res->code ? res->code : -1;
  a->n_errors++;
  log_error_f(LOG_FIELDS(.account = ac->cfg->account),
      "account %s stopped (code %d: %s): its devices are not archived until restart",
            ac->cfg->account, res->code, res->message && *res->message ? res->message : "login failed");
}

static void on_response(void *arg, const net_result_t *res);

/* The parser of the work's answer, run by netc on the body (it goes through cJSON once):
 * into the archiver's one result of each kind, which on_response reads right after. */
static int decode_work(void *arg, const char *body, size_t len, api_error_t *err) {
  work_t *w = arg;
  archiver_t *a = w->a;
  switch (w->kind) {
    /* Lenient (issue 13): a bad record is skipped and described in a->rejects, which the
     * apply_* function that reads this result right after logs and counts. */
    case W_PLAYBACK:
    case W_HEAL: return api_parse_playback_lenient(body, len, &a->points, &a->rejects, err);
    case W_ALARMS: return api_parse_alarm_list_lenient(body, len, &a->alarms, &a->rejects, err);
    case W_MILEAGE: return api_parse_mileage_lenient(body, len, &a->mileages, &a->rejects, err);
    case W_TRACK: return api_parse_track_lenient(body, len, &a->tracks, &a->rejects, err);
    case W_DEVLIST: return api_parse_device_list_lenient(body, len, &a->devices, &a->rejects, err);
    case W_USERLIST: return api_parse_user_list_lenient(body, len, &a->users, &a->rejects, err);
  }
  return api_check_response(API_EP_COUNT, body, len, err);
}

int arch_call(archiver_t *a, acct_t *ac, api_request_t *req, work_t *w) {
  calls_link(&a->calls, w); /* before: an answer never comes from inside the call, but the
                              * queue must not depend on it */
  int rc = netc_call_decode(a->net, ac->na, req, decode_work, on_response, w);
  if (rc == 0) a->n_requests++;
  else calls_unlink(&a->calls, w);
  api_request_free(req);
  return rc;
}

/* ------------------------------------------------------------------ responses */

/* 0: the body holds a page (possibly empty: "no data" in any form is NET_OK, decided
 * by the codec, and its parser reads it as zero records); else the call failed and was
 * accounted for (stream failed or account stopped). */
int arch_response_ok(archiver_t *a, work_t *w, const net_result_t *res) {
  if (res->error == NET_OK) return 0;
  if (res->error == NET_ERR_ACCOUNT) account_stop(a, &a->accts[w->acct], res);
  return -1;
}

/* API answers that no retry changes for this device: the IMEI is not the account's
 * (10013), does not exist (20005), expired (20046), is blocked (20089). (Those of an
 * account, 20001 and 10016, stop the account in netc: NET_ERR_ACCOUNT.) */
bool arch_permanent_code(const net_result_t *res) {
  if (res->error != NET_ERR_API) return false;
  switch (res->code) {
    case API_CODE_IMEI_NOT_AUTHORIZED:
    case API_CODE_TARGET_NOT_EXIST:
    case API_CODE_TARGET_EXPIRED:
    case API_CODE_DEVICE_BLOCKED: return true;
    default: return false;
  }
}

void arch_stop_stream(archiver_t *a, uint32_t dev, int s, const net_result_t *res) {
  char why[300];
  const char *text = api_code_text(res->code);
  snprintf(why, sizeof why, "%s: API error %d (%s)", api_endpoint_path(res->endpoint), res->code,
           text ? text : "unknown code");
  sched_stop(a->sched, dev, s, why);
}

/* What an answer says about the API as a whole: for the backfill's give-up clock. */
static void note_result(archiver_t *a, const net_result_t *res) {
  if (res->error == NET_OK) {
    a->last_success_ms = uv_now(a->loop);
    a->failures_since_success = 0;
  } else if (res->error != NET_ERR_CANCELLED) {
    a->failures_since_success++;
    if (res->error == NET_ERR_API || res->code)
      snprintf(a->last_error, sizeof a->last_error, "%s: API error %d: %s",
               api_endpoint_path(res->endpoint), res->code,
               res->message && *res->message ? res->message : "");
    else
      snprintf(a->last_error, sizeof a->last_error, "%s: %s", api_endpoint_path(res->endpoint),
               res->message && *res->message ? res->message : "failed");
  }
}

static void on_response(void *arg, const net_result_t *res) {
  work_t *w = arg;
  archiver_t *a = w->a;
  calls_unlink(&a->calls, w);
  if (a->opt.hooks && a->opt.hooks->response) a->opt.hooks->response(a->opt.hooks->arg, res);
  note_result(a, res);
  switch (w->kind) {
    case W_PLAYBACK:
    case W_ALARMS:
      sched_call_ended(a->sched, false);
      pages_apply(a, w, res);
      break;
    case W_MILEAGE:
      sched_call_ended(a->sched, true);
      pages_apply_mileage(a, w, res);
      break;
    case W_HEAL:
      sched_call_ended(a->sched, false);
      heal_apply(a, w, res);
      break;
    case W_TRACK:
      if (a->accts[w->acct].poll_in_flight) a->accts[w->acct].poll_in_flight--;
      poller_apply(a, w, res);
      poller_pump(a, &a->accts[w->acct]); /* the next due chunk: no wait for a tick */
      if (arch_backfill(a) && a->polls.pending > 0) a->polls.pending--;
      break;
    case W_DEVLIST:
    case W_USERLIST:
      if (w->kind == W_DEVLIST) discovery_apply_devlist(a, w, res);
      else discovery_apply_userlist(a, w, res);
      discovery_step_done(a, &a->accts[w->acct]);
      break;
  }
  free(w->devs);
  free(w);
  sched_pump(a->sched);
  /* Backfill: with nothing in flight no response can add to the batch, and every due
   * stream left waits for this batch's COMMIT (its busy bit): waiting for flush_interval
   * would only stall (a backfill's last pages and its day-by-day mileage did). */
  if (arch_backfill(a) && a->commit.batch && a->calls.total == 0) commit_submit(a);
  arch_check_shutdown(a);
}

