/* Gap healing (issue 23, gapheal.h) in the archiver: silences of a moving device's
 * stored track found in playback pages, asked again after archive.gap_settle. A gap's row
 * is written in the same batch as the positions that heal it. */
#include "archive/engine.h"

#include <stdlib.h>

#include "util/log.h"
#include "util/timeparse.h"

/* The gap finder's options from the configuration (startup, reload). */
gapheal_options_t heal_options(const config_t *cfg) {
  return (gapheal_options_t){cfg->archive.gap_settle_ms / 1000, cfg->archive.gap_min_ms / 1000,
                             (unsigned)(cfg->archive.gap_max_attempts > 0 ? cfg->archive.gap_max_attempts : 1)};
}

bool heal_on(const archiver_t *a) {
  return a->heal && a->cfg->archive.gap_max_attempts > 0 && arch_stream_on(a, STREAM_PLAYBACK);
}

/* The gap's row, in the batch being filled (healed_at: the ask that healed it). */
static int heal_write(archiver_t *a, const gapheal_gap_t *g) {
  devtab_device_t *d = devtab_at(a->dev, g->dev);
  if (!d) return 0;
  pgw_gap_t pg = {.imei = d->imei, .from = g->from, .to = g->to, .detected_at = g->detected_at,
                  .next_at = g->next_at, .last_asked = g->last_asked,
                  .healed_at = g->healed ? g->last_asked : 0, .attempts = (int32_t)g->attempts,
                  .recovered = g->recovered};
  int rc = commit_fence(a, d);
  return rc ? rc : pgw_batch_add_gap(a->commit.batch, &pg);
}

/* A position of a playback page, in order: a new gap before it is written with the page
 * (a restart then finds it open). */
int heal_observe(archiver_t *a, const work_t *w, const api_point_t *p) {
  if (!heal_on(a)) return 0;
  gapheal_gap_t g;
  int rc = gapheal_observe(a->heal, w->dev, p->gpstime, p->speed, w->asked_at, &g);
  if (rc <= 0) return rc;
  char t1[32], t2[32];
  log_info_f(LOG_FIELDS(.imei = devtab_at(a->dev, w->dev)->imei),
      "device %s: no position from %s to %s while moving: asked again from %llds on",
           devtab_at(a->dev, w->dev)->imei, timeparse_format_time(g.from, t1, sizeof t1),
           timeparse_format_time(g.to, t2, sizeof t2), (long long)g.next_at);
  return heal_write(a, &g);
}

static void start_heal(archiver_t *a, gapheal_gap_t *g, int64_t now_server) {
  devtab_device_t *d = devtab_at(a->dev, g->dev);
  if (!d || d->removed || a->accts[d->account].stopped || !arch_acct_held(a, d->account)) {
    gapheal_failed(a->heal, g, now_server);
    return;
  }
  if (d->cursor[STREAM_PLAYBACK].begin == ARCH_UNSET) { /* not tracked yet (startup): soon */
    g->next_at = now_server + 5;
    return;
  }
  work_t *w = calloc(1, sizeof *w);
  api_request_t req = {0};
  if (!w || api_request_playback(&req, d->imei, g->resume, g->to) != 0) {
    api_request_free(&req);
    free(w);
    gapheal_failed(a->heal, g, now_server);
    return;
  }
  *w = (work_t){.a = a, .kind = W_HEAL, .acct = d->account, .dev = g->dev, .begin = g->resume,
                .end = g->to, .asked_at = now_server, .gap_from = g->from, .gap_to = g->to};
  g->busy = true;
  if (arch_call(a, &a->accts[d->account], &req, w) != 0) {
    free(w);
    gapheal_failed(a->heal, g, now_server);
    return;
  }
  sched_call_begun(a->sched);
  a->n_heal_requests++;
}

/* run: the gaps due, while calls are free (after the pages: the present first). */
void heal_pump(archiver_t *a, int64_t now_server) {
  /* Due times are the platform's: wait for its present (a track record's servertime). */
  if (arch_backfill(a) || !heal_on(a) || !a->have_offset) return;
  gapheal_gap_t *g;
  while (sched_free_slots(a->sched) > 0 && (g = gapheal_due(a->heal, now_server, NULL)))
    start_heal(a, g, now_server);
}

void heal_apply(archiver_t *a, work_t *w, const net_result_t *res) {
  gapheal_gap_t *g = gapheal_find(a->heal, w->dev, w->gap_from, w->gap_to);
  devtab_device_t *d = devtab_at(a->dev, w->dev);
  if (!g || !d) return;
  int64_t now = arch_server_now(a);
  int ok = arch_response_ok(a, w, res);
  size_t n = 0, raw = 0;
  const char *why = res->message;
  if (ok == 0) {
    /* decode_work parsed the page ("no data" in any form is an empty one) */
    if (res->decoded) {
      ok = -1;
      why = res->decode_message;
    } else {
      n = pages_accept(a, STREAM_PLAYBACK, d->imei, res->endpoint, &raw); /* as a page's */
    }
  }
  if (ok < 0 || !commit_batch(a)) {
    if (res->error != NET_ERR_CANCELLED)
      log_warn_f(LOG_FIELDS(.imei = d->imei),
          "device %s: gap from %lld: its ask failed (%s): again later", d->imei,
               (long long)w->gap_from, why && *why ? why : "bad answer");
    gapheal_failed(a->heal, g, now);
    return;
  }
  int rc = 0;
  int64_t last = w->begin;
  size_t stored = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const api_point_t *p = &a->points.items[i];
    if (p->gpstime < w->begin || p->gpstime > w->end) continue;
    rc = pgw_batch_add_position(a->commit.batch, d->imei, p->gpstime, p->longitude, p->latitude,
                                p->speed, p->course);
    last = p->gpstime;
    stored++;
  }
  gapheal_gap_t out;
  if (raw >= PAGING_PLAYBACK_PAGE) gapheal_continue(a->heal, g, now, last, (int64_t)stored, &out);
  else gapheal_done(a->heal, g, now, (int64_t)stored, &out);
  if (rc == 0) rc = heal_write(a, &out);
  if (rc) log_error_f(LOG_FIELDS(.imei = d->imei),
      "device %s: gap from %lld: cannot add to the batch", d->imei, (long long)out.from);
  a->n_heal_points += stored;
  char t1[32], t2[32];
  log_info_f(LOG_FIELDS(.imei = d->imei),
      "device %s: gap %s to %s asked again: %zu positions%s", d->imei,
           timeparse_format_time(out.from, t1, sizeof t1), timeparse_format_time(out.to, t2, sizeof t2),
           stored, out.healed ? (out.recovered ? ", healed" : ", nothing came: given up") : "");
  commit_maybe_submit(a);
}
