/* Account leases (archive/lease.h): the rounds, on libuv's thread pool. */
#include "archive/lease.h"

#include "db/leasedb.h"
#include "db/state.h"
#include "util/log.h"
#include "util/grow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  bool held;
  int64_t gen;
  uint64_t deadline_ms; /* loop time until which it may be worked */
  bool lapse_told;      /* the lapse past deadline_ms was logged */
  char *pub_token;      /* a token of ours to store at the next round (secret), or NULL */
  char pub_cred[33];
  int64_t pub_expires;
} slot_t;

/* A token on its way to or from the database (a secret: wiped when freed). */
typedef struct tok {
  char *token;
  char cred[33];
  int64_t expires;
} tok_t;

static void tok_clear(tok_t *t) {
  if (t->token) explicit_bzero(t->token, strlen(t->token));
  free(t->token);
  t->token = NULL;
}

typedef struct cov_row {
  char *imei;
  char stream[12];
  int64_t from, to;
} cov_row_t;

typedef struct job {
  uv_work_t req;
  lease_t *l;
  uint64_t started_ms;
  bool release_all;      /* the closing round */
  size_t n;
  char **names;          /* NULL: removed account */
  int64_t *gens;         /* in: held generation, 0 none */
  int64_t *out;          /* out: generation held after the round, 0 none */
  bool *answered;        /* out: the database answered for this account */
  tok_t *put;            /* in: tokens to store (held accounts); out: those not stored */
  tok_t *got;            /* out: the stored tokens of the accounts taken */
  cov_row_t *cov;        /* committed coverage, read after a take */
  size_t n_cov, cap_cov;
  int rc;
  char err[300];
} job_t;

struct lease {
  uv_loop_t *loop;
  uv_timer_t timer;
  lease_hooks_t hooks;
  leasedb_t *db;         /* used by one job at a time, on the pool */
  char *conninfo, *instance;
  int64_t ttl_ms;
  slot_t *slots;
  size_t n_slots;
  job_t *job;            /* in flight */
  bool failing;          /* the last round failed (logged once) */
  bool closing;
  void (*close_cb)(void *);
  void *close_arg;
};

static void job_free(job_t *j) {
  if (!j) return;
  for (size_t i = 0; i < j->n; i++) free(j->names[i]);
  for (size_t i = 0; j->put && i < j->n; i++) tok_clear(&j->put[i]);
  for (size_t i = 0; j->got && i < j->n; i++) tok_clear(&j->got[i]);
  free(j->put);
  free(j->got);
  for (size_t i = 0; i < j->n_cov; i++) free(j->cov[i].imei);
  free(j->names);
  free(j->gens);
  free(j->out);
  free(j->answered);
  free(j->cov);
  free(j);
}

static int collect_cov(void *arg, const char *imei, const char *stream, int64_t from, int64_t to) {
  job_t *j = arg;
  if (GROW(j->cov, j->cap_cov, j->n_cov + 1) != 0) return -ENOMEM;
  cov_row_t *r = &j->cov[j->n_cov];
  if (!(r->imei = strdup(imei))) return -ENOMEM;
  snprintf(r->stream, sizeof r->stream, "%s", stream);
  r->from = from;
  r->to = to;
  j->n_cov++;
  return 0;
}

/* On the pool: the blocking statements of one round. */
static void work(uv_work_t *req) {
  job_t *j = req->data;
  lease_t *l = j->l;
  double ttl = (double)l->ttl_ms / 1000.0;
  size_t held = 0, named = 0;
  for (size_t i = 0; i < j->n; i++) {
    j->out[i] = j->gens[i];
    if (j->names[i]) named++;
  }
  if (j->release_all) {
    for (size_t i = 0; i < j->n; i++)
      if (j->gens[i] && j->names[i] &&
          leasedb_release(l->db, j->names[i], j->gens[i], j->err, sizeof j->err) == 0)
        j->out[i] = 0;
    return;
  }
  int share = (int)named;
  if (!l->hooks.no_share &&
      (j->rc = leasedb_share(l->db, ttl, (int)named, &share, j->err, sizeof j->err)))
    return;
  for (size_t i = 0; i < j->n; i++) {
    if (!j->gens[i]) continue;
    bool ok = false;
    if (!j->names[i]) { /* removed by a reload: let it expire */
      j->out[i] = 0;
      j->answered[i] = true;
      continue;
    }
    if ((j->rc = leasedb_renew(l->db, j->names[i], j->gens[i], ttl, &ok, j->err, sizeof j->err)))
      return;
    j->answered[i] = true;
    j->out[i] = ok ? j->gens[i] : 0;
    if (ok) held++;
  }
  /* Our tokens, stored while the lease is held (fenced by its generation). */
  for (size_t i = 0; i < j->n; i++) {
    if (!j->put[i].token || !j->out[i] || !j->names[i]) continue;
    bool stored = false;
    if ((j->rc = leasedb_token_put(l->db, j->names[i], j->out[i], j->put[i].token, j->put[i].cred,
                                   j->put[i].expires, &stored, j->err, sizeof j->err)))
      return;
    tok_clear(&j->put[i]); /* stored, or not ours to store any more */
  }
  /* More than the share (another instance came): give one back per round. */
  if (held > (size_t)share) {
    for (size_t i = j->n; i-- > 0;) {
      if (!j->out[i]) continue;
      if (leasedb_release(l->db, j->names[i], j->out[i], j->err, sizeof j->err) == 0) {
        j->out[i] = 0;
        held--;
      }
      break;
    }
  }
  bool took = false;
  for (size_t i = 0; i < j->n && held < (size_t)share; i++) {
    if (j->out[i] || !j->names[i]) continue;
    int64_t g = 0;
    if ((j->rc = leasedb_take(l->db, j->names[i], ttl, &g, j->err, sizeof j->err))) return;
    j->answered[i] = true;
    if (g) {
      j->out[i] = g;
      held++;
      took = true;
      /* the previous holder's token, if it has a minute left: no login on this host */
      if (l->hooks.token &&
          (j->rc = leasedb_token_get(l->db, j->names[i], 60, &j->got[i].token, j->got[i].cred,
                                     &j->got[i].expires, j->err, sizeof j->err)))
        return;
    }
  }
  for (size_t i = 0; i < j->n; i++)
    if (j->names[i]) j->answered[i] = true;
  if (took) {
    /* What the previous holders committed: the new holder continues from it. */
    j->rc = db_load_coverage(l->conninfo, collect_cov, j, j->err, sizeof j->err);
    if (j->rc) { /* not worked without its coverage: give the taken ones back */
      for (size_t i = 0; i < j->n; i++)
        if (j->out[i] && !j->gens[i]) {
          if (leasedb_release(l->db, j->names[i], j->out[i], NULL, 0) == 0) j->out[i] = 0;
        }
    }
  }
}

static void finish_close(lease_t *l);

static void on_closed_timer(uv_handle_t *h) {
  lease_t *l = h->data;
  void (*cb)(void *) = l->close_cb;
  void *arg = l->close_arg;
  leasedb_free(l->db);
  for (size_t i = 0; i < l->n_slots; i++) {
    tok_t t = {.token = l->slots[i].pub_token};
    tok_clear(&t);
  }
  free(l->slots);
  free(l->conninfo);
  free(l->instance);
  free(l);
  if (cb) cb(arg);
}

static void after(uv_work_t *req, int status) {
  job_t *j = req->data;
  lease_t *l = j->l;
  l->job = NULL;
  double ttl = (double)l->ttl_ms;
  uint64_t deadline = j->started_ms + (uint64_t)(ttl * 0.8);
  if (status == 0 && j->release_all) {
    for (size_t i = 0; i < j->n && i < l->n_slots; i++) l->slots[i].held = false;
    job_free(j);
    finish_close(l);
    return;
  }
  if (status == 0 && (j->rc == 0 || j->rc == -EIO)) {
    if (j->rc && !l->failing) log_warn("cluster: lease round failed: %s", j->err);
    if (!j->rc && l->failing) log_info("cluster: lease rounds succeed again");
    l->failing = j->rc != 0;
    bool cov_applied = false;
    for (size_t i = 0; i < j->n && i < l->n_slots; i++) {
      slot_t *s = &l->slots[i];
      if (!j->answered[i]) continue;
      if (j->out[i] && j->out[i] == s->gen && s->held) {
        bool lapsed = uv_now(l->loop) >= s->deadline_ms;
        s->deadline_ms = deadline;
        if (s->lapse_told) log_info_f(LOG_FIELDS(.account = j->names[i]),
            "cluster: the lease of account %s is renewed: worked again", j->names[i]);
        s->lapse_told = false;
        if (lapsed && l->hooks.changed) l->hooks.changed(l->hooks.arg, i, true);
      } else if (j->out[i]) { /* taken */
        if (!cov_applied && l->hooks.coverage) {
          for (size_t k = 0; k < j->n_cov; k++)
            if (l->hooks.coverage(l->hooks.arg, j->cov[k].imei, j->cov[k].stream, j->cov[k].from,
                                  j->cov[k].to) != 0)
              log_error("cluster: out of memory for the coverage read after a take");
          cov_applied = true;
        }
        s->held = true;
        s->gen = j->out[i];
        s->deadline_ms = deadline;
        s->lapse_told = false;
        if (j->got[i].token && l->hooks.token)
          l->hooks.token(l->hooks.arg, i, j->got[i].token, j->got[i].cred, j->got[i].expires);
        log_info("cluster: %s holds account %s (generation %lld)", l->instance, j->names[i],
                 (long long)s->gen);
        if (l->hooks.changed) l->hooks.changed(l->hooks.arg, i, true);
      } else if (s->held) {
        s->held = false;
        log_warn_f(LOG_FIELDS(.account = j->names[i] ? j->names[i] : "?"),
            "cluster: account %s is no longer held by %s", j->names[i] ? j->names[i] : "?",
                 l->instance);
        if (l->hooks.changed) l->hooks.changed(l->hooks.arg, i, false);
      }
    }
  }
  /* A round that failed before storing a token: it goes with the next one (unless a
   * newer one came meanwhile). */
  for (size_t i = 0; i < j->n && i < l->n_slots; i++) {
    if (!j->put[i].token || l->slots[i].pub_token) continue;
    l->slots[i].pub_token = j->put[i].token;
    memcpy(l->slots[i].pub_cred, j->put[i].cred, sizeof j->put[i].cred);
    l->slots[i].pub_expires = j->put[i].expires;
    j->put[i].token = NULL;
  }
  job_free(j);
  if (l->closing) {
    finish_close(l);
    return;
  }
}

static job_t *job_new(lease_t *l, bool release_all) {
  size_t n = l->hooks.count(l->hooks.arg);
  if (n > l->n_slots) {
    slot_t *s = realloc(l->slots, n * sizeof *s);
    if (!s) return NULL;
    memset(s + l->n_slots, 0, (n - l->n_slots) * sizeof *s);
    l->slots = s;
    l->n_slots = n;
  }
  job_t *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->l = l;
  j->req.data = j;
  j->release_all = release_all;
  j->started_ms = uv_now(l->loop);
  j->n = n;
  j->names = calloc(n ? n : 1, sizeof *j->names);
  j->gens = calloc(n ? n : 1, sizeof *j->gens);
  j->out = calloc(n ? n : 1, sizeof *j->out);
  j->answered = calloc(n ? n : 1, sizeof *j->answered);
  j->put = calloc(n ? n : 1, sizeof *j->put);
  j->got = calloc(n ? n : 1, sizeof *j->got);
  if (!j->names || !j->gens || !j->out || !j->answered || !j->put || !j->got) {
    job_free(j);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    const char *name = l->hooks.name(l->hooks.arg, i);
    if (name && !(j->names[i] = strdup(name))) {
      job_free(j);
      return NULL;
    }
    /* A lapsed lease is renewed only if the database still says so (same generation). */
    j->gens[i] = l->slots[i].held ? l->slots[i].gen : 0;
    slot_t *s = &l->slots[i];
    if (s->pub_token && s->held && !release_all) { /* moved: the round stores it */
      j->put[i].token = s->pub_token;
      memcpy(j->put[i].cred, s->pub_cred, sizeof s->pub_cred);
      j->put[i].expires = s->pub_expires;
      s->pub_token = NULL;
    }
  }
  return j;
}

/* Says once when a held lease passed its deadline without a renewal (the database
 * unreachable, or a round hanging): lease_holds() is false from then on, so the account
 * is no longer worked here; a renewal of the same generation resumes it. */
static void tell_lapses(lease_t *l) {
  uint64_t now = uv_now(l->loop);
  for (size_t i = 0; i < l->n_slots; i++) {
    slot_t *s = &l->slots[i];
    if (!s->held || now < s->deadline_ms || s->lapse_told) continue;
    s->lapse_told = true;
    const char *name = l->hooks.name(l->hooks.arg, i);
    log_warn_f(LOG_FIELDS(.account = name ? name : "?"),
        "cluster: the lease of account %s lapsed (not renewed for %.1f s): %s no longer "
             "works it until a renewal", name ? name : "?",
             (double)(now - s->deadline_ms) / 1000 + (double)l->ttl_ms * 0.8 / 1000, l->instance);
  }
}

static void on_timer(uv_timer_t *t) {
  lease_t *l = t->data;
  tell_lapses(l);
  if (l->job || l->closing) return; /* the last round still runs (or hangs): it lapses */
  job_t *j = job_new(l, false);
  if (!j) {
    log_error("cluster: out of memory for a lease round");
    return;
  }
  l->job = j;
  if (uv_queue_work(l->loop, &j->req, work, after) != 0) {
    l->job = NULL;
    job_free(j);
  }
}

static void schedule(lease_t *l, uint64_t in_ms) {
  uint64_t every = (uint64_t)l->ttl_ms / 3;
  if (every < 200) every = 200;
  uv_timer_start(&l->timer, on_timer, in_ms, every);
}

lease_t *lease_new(uv_loop_t *loop, const char *conninfo, const char *instance, int64_t ttl_ms,
                   const lease_hooks_t *hooks) {
  lease_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->loop = loop;
  l->hooks = *hooks;
  l->ttl_ms = ttl_ms;
  l->conninfo = strdup(conninfo ? conninfo : "");
  l->instance = strdup(instance);
  unsigned timeout = (unsigned)(ttl_ms / 3 > 1000 ? ttl_ms / 3 : 1000);
  l->db = l->conninfo && l->instance ? leasedb_new(conninfo, instance, timeout) : NULL;
  if (!l->db) {
    leasedb_free(l->db);
    free(l->conninfo);
    free(l->instance);
    free(l);
    return NULL;
  }
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  schedule(l, 0);
  return l;
}

int lease_publish_token(lease_t *l, size_t i, const char *token, const char *credential,
                        int64_t expires_at) {
  if (!l || i >= l->n_slots || !token) return 0; /* not a leased account (yet) */
  slot_t *s = &l->slots[i];
  char *copy = strdup(token);
  if (!copy) return -ENOMEM;
  if (s->pub_token) explicit_bzero(s->pub_token, strlen(s->pub_token));
  free(s->pub_token);
  s->pub_token = copy;
  snprintf(s->pub_cred, sizeof s->pub_cred, "%s", credential ? credential : "");
  s->pub_expires = expires_at;
  return 0;
}

bool lease_holds(const lease_t *l, size_t i, int64_t *gen) {
  if (!l || i >= l->n_slots || !l->slots[i].held) return false;
  if (uv_now(l->loop) >= l->slots[i].deadline_ms) return false;
  if (gen) *gen = l->slots[i].gen;
  return true;
}

const char *lease_instance(const lease_t *l) { return l->instance; }

size_t lease_held_count(const lease_t *l) {
  size_t n = 0;
  for (size_t i = 0; i < l->n_slots; i++) n += lease_holds(l, i, NULL);
  return n;
}

/* After the last round: releases what is held (one round on the pool), then frees. */
static void finish_close(lease_t *l) {
  if (l->job) return; /* its after() comes back here */
  bool any = false;
  for (size_t i = 0; i < l->n_slots; i++) any |= l->slots[i].held;
  if (any) {
    job_t *j = job_new(l, true);
    if (j) {
      for (size_t i = 0; i < l->n_slots; i++) l->slots[i].held = false;
      l->job = j;
      if (uv_queue_work(l->loop, &j->req, work, after) == 0) return;
      l->job = NULL;
      job_free(j);
    }
  }
  uv_close((uv_handle_t *)&l->timer, on_closed_timer);
}

void lease_close(lease_t *l, void (*cb)(void *arg), void *arg) {
  l->closing = true;
  l->close_cb = cb;
  l->close_arg = arg;
  uv_timer_stop(&l->timer);
  finish_close(l);
}
