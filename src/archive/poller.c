/* Track polls of the archiver (/api/track, 100 devices a call): spread over
 * archive.track_interval per account, they learn the platform's present, store each
 * device's state, and mark devices whose playback or alarms may now be due. */
#include "archive/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

int poller_timer_init(archiver_t *a, acct_t *ac) {
  ac->poll = calloc(1, sizeof *ac->poll);
  if (!ac->poll) return -ENOMEM;
  uv_timer_init(a->loop, &ac->poll->timer);
  ac->poll->timer.data = ac->poll;
  ac->poll->a = a;
  ac->poll->acct = (uint16_t)(ac - a->accts);
  return 0;
}

/* device_state holds each device's latest /api/track record. A parked device answers
 * the same record poll after poll but for the platform's clock: servertime (the
 * present) and acctime (seconds its ACC status has been kept, which grows with it).
 * Rewriting 100k such rows every cycle was most of PostgreSQL's share of a poll cycle
 * (issue 20). The rule: a record is unchanged when every field but servertime is the
 * same as in the row last written, acctime taken as the moment the ACC status began
 * (servertime - acctime, so that a status kept longer is no change and a status that
 * changed is); an unchanged record is not written, unless the row is older than
 * ARCH_STATE_REFRESH_S. So the row is always a record the platform sent, whole and
 * consistent (its servertime and acctime are of one answer), at most
 * ARCH_STATE_REFRESH_S behind on the clock fields, and current in every other field;
 * updated_at tells when it was last written. A batch that fails forgets every hash
 * (poller_state_forget): the next poll writes each row again. */
static uint64_t state_mix(uint64_t h, uint64_t v) {
  h ^= v + UINT64_C(0x9e3779b97f4a7c15) + (h << 6) + (h >> 2);
  return h * UINT64_C(0xff51afd7ed558ccd);
}

static uint32_t state_hash(const pgw_device_state_t *st) {
  uint64_t lon, lat, h = UINT64_C(0xcbf29ce484222325);
  memcpy(&lon, &st->longitude, sizeof lon);
  memcpy(&lat, &st->latitude, sizeof lat);
  int64_t acc = st->acctime >= 0 && st->servertime > 0 ? st->servertime - st->acctime : st->acctime;
  const uint64_t v[] = {
      (uint64_t)st->gpstime, (uint64_t)st->hearttime, (uint64_t)st->systemtime, lon, lat,
      (uint64_t)st->course, (uint64_t)st->speed, (uint64_t)acc, (uint64_t)(st->acctime < 0),
      (uint64_t)st->accstatus, (uint64_t)st->doorstatus, (uint64_t)st->chargestatus,
      (uint64_t)st->oilpowerstatus, (uint64_t)st->defencestatus, (uint64_t)st->datastatus,
      (uint64_t)st->battery, (uint64_t)st->mileage, (uint64_t)st->todaymileage};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) h = state_mix(h, v[i]);
  /* 32 bits (the device table's budget of ~100 bytes a device): a changed record taken
   * for the same one (2^-32 a change) is written at the next refresh at the latest */
  return (uint32_t)(h ^ (h >> 32)) | 1u; /* 0 is "no row written" */
}

/* Whether st need not be written (see above); if it is to be, d remembers it. */
static bool state_unchanged(archiver_t *a, devtab_device_t *d, const pgw_device_state_t *st) {
  uint32_t h = state_hash(st);
  uint16_t now = (uint16_t)(arch_now_s(a) / 8);
  if (d->state_hash == h && (uint16_t)(now - d->state_at) < ARCH_STATE_REFRESH_S / 8) return true;
  d->state_hash = h;
  d->state_at = now;
  return false;
}

void poller_state_forget(archiver_t *a) {
  size_t n = devtab_count(a->dev);
  for (size_t i = 0; i < n; i++) devtab_at(a->dev, i)->state_hash = 0;
}

void poller_apply(archiver_t *a, work_t *w, const net_result_t *res) {
  acct_t *ac = &a->accts[w->acct];
  int ok = arch_response_ok(a, w, res);
  if (ok == 0 && res->decoded != 0) ok = -2; /* decode_work parsed a->tracks */
  if (ok == 0 && a->rejects.n) ingest_rejects(a->ingest, "track", NULL, &a->rejects);
  if (ok != 0) {
    if (res->error != NET_ERR_CANCELLED && !ac->stopped) {
      a->n_errors++;
      log_warn_f(LOG_FIELDS(.account = ac->cfg->account, .endpoint = "track"),
          "account %s: /api/track of %zu devices: %s", ac->cfg->account, w->n_devs,
               ok == -2 ? res->decode_message : res->message);
    }
    return; /* backfill: last_gpstime stays unknown (-1): those devices are asked anyway */
  }
  int rc = commit_batch(a) ? 0 : -ENOMEM;
  int64_t now_real = arch_present_bound(a);
  for (size_t i = 0; i < a->tracks.n && rc == 0; i++) {
    api_track_t *t = &a->tracks.items[i];
    int64_t idx = devtab_find(a->dev, t->imei);
    if (idx < 0) continue;
    int64_t sent_gpstime = t->gpstime, sent_servertime = t->servertime;
    ingest_track(a->ingest, t, now_real); /* out-of-bounds fields become unknown (NULL) */
    bool gps_refused = sent_gpstime > 0 && t->gpstime <= 0;
    devtab_device_t *d = devtab_at(a->dev, (size_t)idx);
    int64_t was_gpstime = d->last_gpstime, was_systemtime = d->last_systemtime;
    /* The present of the data. Login signing keeps the offset netc learns from the
     * Date headers: the simulator's data clock (--now, --speed) is not its signing
     * clock, and on a real host both are the same server clock anyway. */
    if (sent_servertime > 0 && !arch_learn_servertime(a, sent_servertime))
      t->servertime = 0; /* not believed: stored NULL */
    if (d->cursor[STREAM_PLAYBACK].begin == ARCH_UNSET || d->cursor[STREAM_ALARMS].begin == ARCH_UNSET ||
        d->cursor[STREAM_MILEAGE].begin == ARCH_UNSET) {
      for (int s = 0; s < STREAM_COUNT; s++)
        if (d->cursor[s].begin == ARCH_UNSET)
          d->cursor[s] = (paging_cursor_t){arch_stream_start_of(a, (uint32_t)idx, s), false};
      sched_mark_device(a->sched, (uint32_t)idx);
    }
    int64_t gps = t->gpstime > 0 ? t->gpstime : 0;
    int64_t heard = t->systemtime > t->hearttime ? t->systemtime : t->hearttime;
    if (!arch_backfill(a) && arch_stream_on(a, STREAM_ALARMS)) {
      /* Alarms' cadence and events (alarmcad.h): every record revisits the device. */
      alarmcad_record_t ar = {.gpstime = gps, .heard = heard, .datastatus = t->datastatus,
                              .accstatus = t->accstatus, .defencestatus = t->defencestatus};
      if (alarmcad_track(a->acad, (size_t)idx, &ar, arch_server_now(a)) != 0)
        log_error_f(LOG_FIELDS(.imei = d->imei),
            "device %s: out of memory for its alarm cadence", d->imei);
      sched_mark_stream(a->sched, (uint32_t)idx, STREAM_PLAYBACK);
    }
    /* The poll's point is a real report: store it at once in run mode when it is new
     * and not covered (the playback page that brings it later finds it stored). */
    if (!arch_backfill(a) && gps > 0 && gps > d->last_gpstime &&
        gps > d->cursor[STREAM_PLAYBACK].begin && t->speed >= 0 && t->course >= 0 &&
        !coverage_covers(a->cov, (size_t)idx, STREAM_PLAYBACK, gps)) {
      rc = pgw_batch_add_position(a->commit.batch, d->imei, gps, t->longitude, t->latitude, t->speed,
                                  t->course);
      /* Its second is covered (one position per second): the page that follows asks up
       * to the second before it, and stores it only once. */
      move_t pt = {.cov_only = true, .has_cov = true, .cov_from = gps, .cov_to = gps};
      if (rc == 0) rc = commit_move(a, (uint32_t)idx, STREAM_PLAYBACK, &d->cursor[STREAM_PLAYBACK], false, &pt);
    }
    /* A refused gpstime tells nothing: backfill keeps asking (unknown stays -1). In `run`
     * the device is still heard: playback is due up to the time it was heard (at most
     * the present), so a device whose every record carries a bad gpstime is archived
     * from its coverage on, at the cadence of its reports, instead of never. */
    if (!gps_refused && (gps > d->last_gpstime || d->last_gpstime < 0)) d->last_gpstime = gps;
    else if (gps_refused && !arch_backfill(a) && heard > d->last_gpstime)
      d->last_gpstime = heard < now_real ? heard : now_real;
    if (heard > d->last_systemtime) d->last_systemtime = heard;
    /* What playback and alarms are due on: a record that moved neither changes nothing. */
    if (d->last_gpstime != was_gpstime || d->last_systemtime != was_systemtime)
      sched_mark_stream(a->sched, (uint32_t)idx, STREAM_PLAYBACK);
    pgw_device_state_t st = {
        .imei = d->imei, .servertime = t->servertime > 0 ? t->servertime : 0, .gpstime = gps,
        .hearttime = t->hearttime > 0 ? t->hearttime : 0,
        .systemtime = t->systemtime > 0 ? t->systemtime : 0, .longitude = t->longitude,
        .latitude = t->latitude, .course = t->course, .speed = t->speed, .acctime = t->acctime,
        .accstatus = t->accstatus, .doorstatus = t->doorstatus, .chargestatus = t->chargestatus,
        .oilpowerstatus = t->oilpowerstatus, .defencestatus = t->defencestatus,
        .datastatus = t->datastatus, .battery = t->battery, .mileage = t->mileage,
        .todaymileage = t->todaymileage};
    if (rc == 0 && !state_unchanged(a, d, &st)) {
      rc = pgw_batch_add_device_state(a->commit.batch, &st);
      if (rc) d->state_hash = 0;
    }
  }
  if (rc) log_error_f(LOG_FIELDS(.account = ac->cfg->account),
      "account %s: cannot add track records to the batch", ac->cfg->account);
  commit_maybe_submit(a);
}

/* ------------------------------------------------------------------ track polls */

void poller_chunk(archiver_t *a, acct_t *ac, size_t chunk_start) {
  size_t n = ac->n_poll - chunk_start;
  if (n > API_MAX_IMEIS) n = API_MAX_IMEIS;
  work_t *w = calloc(1, sizeof *w);
  uint32_t *devs = calloc(n ? n : 1, sizeof *devs);
  const char *imeis[API_MAX_IMEIS];
  if (!w || !devs) goto fail;
  *w = (work_t){.a = a, .kind = W_TRACK, .acct = (uint16_t)(ac - a->accts), .devs = devs, .n_devs = n};
  for (size_t k = 0; k < n; k++) {
    devs[k] = ac->poll_devs[chunk_start + k];
    imeis[k] = devtab_at(a->dev, devs[k])->imei;
  }
  api_request_t req = {0};
  if (n == 0 || api_request_track(&req, imeis, n) != 0 || arch_call(a, ac, &req, w) != 0) goto fail;
  ac->poll_in_flight++;
  return;
fail:
  if (arch_backfill(a) && a->polls.pending > 0) a->polls.pending--;
  free(devs);
  free(w);
}

/* The account's active devices, for its polls (after each discovery). */
void poller_rebuild(archiver_t *a, acct_t *ac) {
  size_t n = devtab_count(a->dev), k = 0;
  uint32_t *v = realloc(ac->poll_devs, (n ? n : 1) * sizeof *v);
  if (!v) return;
  ac->poll_devs = v;
  for (size_t i = 0; i < n; i++) {
    devtab_device_t *d = devtab_at(a->dev, i);
    if (!d->removed && &a->accts[d->account] == ac) v[k++] = (uint32_t)i;
  }
  ac->n_poll = k;
  if (ac->poll_pos >= k) ac->poll_pos = 0;
}

/* Run: the chunks of a cycle are due evenly over track_interval (chunk j of n at
 * cycle_start + j * track_interval / n); each is sent once due and fewer than
 * POLL_IN_FLIGHT of the account's track calls are out, the next one as soon as an
 * answer comes back (poller_apply -> poller_pump), not at the next tick. Before
 * (issue 20), a tick that found the previous chunk still out was skipped: every chunk
 * then waited for a tick after its predecessor's answer, and one call at a time left
 * the platform's answer and fleetarc's parse of the previous one in sequence. A cycle
 * that runs late (more chunks than the host answers in track_interval) is not made up:
 * the next cycle starts when the late one has sent its last chunk.
 * Two in flight when the account's track lane is paced (rate_limits.track, or a 10009
 * widened it): one waits at the lane and leaves the moment the spacing allows, as the
 * pacer decides; three otherwise, so that the host prepares the next answers while
 * fleetarc parses and stores one. */
#define POLL_IN_FLIGHT 3
#define POLL_IN_FLIGHT_PACED 2

static void on_poll_timer(uv_timer_t *t) {
  poll_timer_t *pt = t->data;
  poller_pump(pt->a, &pt->a->accts[pt->acct]);
}

static void poll_arm(poll_timer_t *pt, uint64_t in_ms) {
  uv_timer_start(&pt->timer, on_poll_timer, in_ms, 0);
}

void poller_pump(archiver_t *a, acct_t *ac) {
  poll_timer_t *pt = ac->poll;
  if (!pt || !pt->running) return; /* backfill, or closed */
  if (a->stopping || ac->stopped || ac->removed || ac->n_poll == 0) return;
  uint64_t interval = (uint64_t)a->cfg->archive.track_interval_ms;
  uint64_t chunks = (ac->n_poll + API_MAX_IMEIS - 1) / API_MAX_IMEIS;
  uint64_t every = interval / chunks; /* looked again at this spacing while held back */
  if (every < 1) every = 1;
  if (!arch_acct_held(a, pt->acct)) {
    poll_arm(pt, every);
    return;
  }
  /* Bounded memory while the database cannot take rows (an outage fills the writer's
   * queue): a poll now would only grow the batch that cannot be submitted. Held back,
   * not queued: the next poll after the writer drains brings each device's latest
   * state, which is all a poll stores. */
  if (a->commit.pressure || a->commit.blocked) {
    /* told once the pause lasts (a busy writer pauses a poll or two now and then) */
    if (++a->polls.skipped == ARCH_POLLS_SKIPPED_TOLD)
      log_warn("track polls paused: the database writer is full (%zu rows held); each "
               "device's latest state is polled again once it drains",
               a->db ? pgw_queue_rows(a->db) : (size_t)0);
    a->polls.paused = true;
    poll_arm(pt, every);
    return;
  }
  if (a->polls.paused && a->polls.skipped >= ARCH_POLLS_SKIPPED_TOLD)
    log_info("track polls resumed (%llu skipped while the writer was full)",
             (unsigned long long)a->polls.skipped);
  a->polls.paused = false;
  a->polls.skipped = 0;
  uint32_t cap = netc_spacing(a->net, ac->na, API_EP_TRACK) ? POLL_IN_FLIGHT_PACED : POLL_IN_FLIGHT;
  uint64_t now = uv_now(a->loop);
  for (size_t sent = 0; ac->poll_in_flight < cap && sent <= chunks; sent++) {
    if (ac->poll_pos >= ac->n_poll) { /* the next cycle */
      ac->poll_pos = 0;
      uint64_t next = pt->cycle_start + interval;
      pt->cycle_start = next > now ? next : now;
    }
    uint64_t due = pt->cycle_start + (uint64_t)(ac->poll_pos / API_MAX_IMEIS) * interval / chunks;
    if (due > now) {
      poll_arm(pt, due - now);
      return;
    }
    size_t start = ac->poll_pos;
    ac->poll_pos += API_MAX_IMEIS;
    poller_chunk(a, ac, start);
  }
  /* At the cap: the next answer pumps again. A chunk that could not be sent (no memory)
   * is passed over; the bound on the loop keeps that from spinning. */
  if (ac->poll_in_flight == 0) poll_arm(pt, every);
}

void poller_schedule(archiver_t *a, acct_t *ac) {
  poll_timer_t *pt = ac->poll;
  if (!pt) return; /* closed: shutdown */
  if (!pt->running) {
    pt->running = true;
    pt->cycle_start = uv_now(a->loop);
    ac->poll_pos = 0;
  }
  uv_timer_stop(&pt->timer);
  poller_pump(a, ac); /* a reload's new track_interval applies to the due times at once */
}

static void on_poll_closed(uv_handle_t *h) { free(h->data); }

/* Idempotent: also for a startup that failed half-way. */
void poller_close_timers(archiver_t *a) {
  for (size_t i = 0; i < a->n_accts; i++) {
    if (!a->accts[i].poll) continue;
    uv_close((uv_handle_t *)&a->accts[i].poll->timer, on_poll_closed);
    a->accts[i].poll = NULL;
  }
}

