/* Unit tests for archive/scheduler: which device and stream is due next, backoff after
 * failures, the alarm cadence, a full page followed at once, the budget of calls in
 * flight and the ready gate (writer pressure), mileage windows. No network, no
 * database: a device table, a coverage, an alarm cadence and a clock of the test's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "archive/scheduler.h"
#include "domain/stream.h"

#define T0 1700000000 /* the platform's present at the start of each test */
#define MAX_STARTS 64

typedef struct start {
  uint32_t dev;
  int stream;          /* -1: mileage */
  int64_t end, day;
  size_t n_devs;
} start_t;

typedef struct fixture {
  devtab_t *dev;
  coverage_t *cov;
  alarmcad_t *acad;
  sched_t *s;
  int64_t now;         /* server clock */
  uint32_t mono;       /* monotonic clock, seconds */
  bool ready;
  bool fail_starts;    /* start hooks return an error */
  bool blocked[4];     /* per account */
  start_t starts[MAX_STARTS];
  size_t n_starts;
  size_t spare_calls;
  /* The lanes of account 0 (one per stream): calls started and not yet sent by the
   * pacer; lane_cap > 0: a lane holding lane_cap of them is full. */
  size_t lane_waiting[STREAM_COUNT];
  size_t lane_cap;
} fixture_t;

static int64_t cb_server_now(void *arg) { return ((fixture_t *)arg)->now; }
static uint32_t cb_mono_s(void *arg) { return ((fixture_t *)arg)->mono; }
static bool cb_ready(void *arg) { return ((fixture_t *)arg)->ready; }
static bool cb_blocked(void *arg, uint16_t account) {
  return account < 4 && ((fixture_t *)arg)->blocked[account];
}

static bool cb_lane_full(void *arg, uint16_t account, int st) {
  fixture_t *f = arg;
  return account == 0 && f->lane_cap > 0 && f->lane_waiting[st] >= f->lane_cap;
}

static int cb_start_page(void *arg, uint32_t dev, int s, int64_t end, int64_t now_server) {
  fixture_t *f = arg;
  (void)now_server;
  if (f->fail_starts) return -5;
  assert_true(f->n_starts < MAX_STARTS);
  if (devtab_at(f->dev, dev)->account == 0) f->lane_waiting[s]++;
  f->starts[f->n_starts++] = (start_t){.dev = dev, .stream = s, .end = end};
  return 0;
}

static int cb_start_mileage(void *arg, const uint32_t *devs, size_t n, int64_t day) {
  fixture_t *f = arg;
  if (f->fail_starts) return -5;
  assert_true(f->n_starts < MAX_STARTS);
  f->starts[f->n_starts++] = (start_t){.dev = devs[0], .stream = -1, .day = day, .n_devs = n};
  return 0;
}

static void cb_spare(void *arg, int64_t now_server) {
  (void)now_server;
  ((fixture_t *)arg)->spare_calls++;
}

/* A scheduler over n devices of account 0 whose cursors of every stream begin at
 * `begin` (mileage at the day of begin), with only `streams` on. */
static fixture_t *setup(bool backfill, unsigned streams, size_t max_in_flight, size_t n,
                        int64_t begin) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->dev = devtab_new();
  f->cov = coverage_new();
  f->acad = alarmcad_new();
  f->now = T0;
  f->mono = 1000;
  f->ready = true;
  sched_options_t o = {.backfill = backfill, .from = begin, .to = T0, .streams = streams,
                       .max_in_flight = max_in_flight, .alarm_interval_s = 300,
                       .alarm_idle_s = 6 * 3600};
  sched_hooks_t h = {.arg = f, .server_now = cb_server_now, .mono_s = cb_mono_s,
                     .ready = cb_ready, .blocked = cb_blocked, .start_page = cb_start_page,
                     .start_mileage = cb_start_mileage, .spare = cb_spare,
                     .lane_full = cb_lane_full};
  f->s = sched_new(f->dev, f->cov, f->acad, &o, &h);
  assert_non_null(f->s);
  for (size_t i = 0; i < n; i++) {
    char imei[32];
    snprintf(imei, sizeof imei, "86000000000%04zu", i);
    bool added = false;
    devtab_device_t *d = devtab_get_or_add(f->dev, imei, &added);
    assert_non_null(d);
    assert_true(added);
    d->account = 0;
    d->removed = 0;
    d->last_gpstime = backfill ? -1 : 0;
    for (int s = 0; s < STREAM_COUNT; s++) d->cursor[s] = (paging_cursor_t){begin, false};
    d->cursor[STREAM_MILEAGE].begin = begin - ((begin % 86400) + 86400) % 86400;
  }
  sched_mark_all(f->s);
  return f;
}

static void teardown_fixture(fixture_t *f) {
  sched_free(f->s);
  alarmcad_free(f->acad);
  coverage_free(f->cov);
  devtab_free(f->dev);
  free(f);
}

static devtab_device_t *dev(fixture_t *f, uint32_t i) { return devtab_at(f->dev, i); }

/* What pump started since the last call: count, and forgets them. */
static size_t take_starts(fixture_t *f) {
  size_t n = f->n_starts;
  f->n_starts = 0;
  return n;
}

/* The call of start i ended with its page committed at cursor c (more: a full page). */
static void commit_page(fixture_t *f, const start_t *st, paging_cursor_t c, bool more) {
  sched_call_ended(f->s, false);
  sched_committed(f->s, st->dev, st->stream, &c, more, false);
}

/* run: a device whose last gpstime from /api/track is past its playback cursor is due;
 * one that did not move costs nothing. */
static void test_playback_due_on_news_only(void **state) {
  (void)state;
  fixture_t *f = setup(false, STREAM_BIT(STREAM_PLAYBACK), 16, 3, T0 - 3600);
  dev(f, 0)->last_gpstime = T0 - 3600; /* at its cursor: nothing new */
  dev(f, 1)->last_gpstime = T0 - 60;   /* moved */
  dev(f, 2)->last_gpstime = 0;         /* never reported */
  for (uint32_t i = 0; i < 3; i++) dev(f, i)->cursor[STREAM_PLAYBACK].have_begin = true;
  assert_int_equal(sched_due(f->s, 0, STREAM_PLAYBACK, f->now, NULL), DUE_NO);
  assert_int_equal(sched_due(f->s, 1, STREAM_PLAYBACK, f->now, NULL), DUE_YES);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].dev, 1);
  assert_int_equal(f->starts[0].stream, STREAM_PLAYBACK);
  assert_int_equal(f->starts[0].end, T0); /* run: up to the present */
  assert_int_equal(sched_in_flight(f->s), 1);
  assert_int_equal(f->spare_calls, 1);
  /* in flight: busy, not asked twice */
  assert_int_equal(sched_due(f->s, 1, STREAM_PLAYBACK, f->now, NULL), DUE_LATER);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  teardown_fixture(f);
}

/* Coverage: the cursor is moved past what any job archived, and the window ends at the
 * next covered interval. */
static void test_page_asks_only_the_gap(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_PLAYBACK), 16, 1, T0 - 7200);
  assert_int_equal(coverage_add(f->cov, 0, STREAM_PLAYBACK, T0 - 7200, T0 - 5001), 0);
  assert_int_equal(coverage_add(f->cov, 0, STREAM_PLAYBACK, T0 - 3000, T0 - 2001), 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(dev(f, 0)->cursor[STREAM_PLAYBACK].begin, T0 - 5000);
  assert_int_equal(f->starts[0].end, T0 - 3001);
  teardown_fixture(f);
}

/* A failure backs off 2^f seconds (spread by up to half), growing with each failure;
 * the stream is asked again once the monotonic clock has passed its retry time. */
static void test_backoff_after_failures(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_PLAYBACK), 16, 2, T0 - 3600);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 2);
  sched_call_ended(f->s, false);
  sched_fail(f->s, 0, STREAM_PLAYBACK, "test: failed");
  uint32_t retry1 = dev(f, 0)->retry_at[STREAM_PLAYBACK];
  assert_in_range(retry1, f->mono + 2, f->mono + 3);
  assert_int_equal(sched_due(f->s, 0, STREAM_PLAYBACK, f->now, NULL), DUE_LATER);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  f->mono = retry1;
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].dev, 0);
  /* the second failure waits longer: 4 s plus up to 2 */
  sched_call_ended(f->s, false);
  sched_fail(f->s, 0, STREAM_PLAYBACK, "test: failed again");
  assert_in_range(dev(f, 0)->retry_at[STREAM_PLAYBACK], f->mono + 4, f->mono + 6);
  assert_int_equal(dev(f, 0)->failures[STREAM_PLAYBACK], 2);
  assert_int_equal(sched_stats(f->s)->failures, 2);
  /* a commit resets the count */
  f->mono += 10;
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  commit_page(f, &f->starts[0], (paging_cursor_t){T0 - 1800, true}, false);
  assert_int_equal(dev(f, 0)->failures[STREAM_PLAYBACK], 0);
  teardown_fixture(f);
}

/* A backfill gives a stream up after SCHED_MAX_FAILURES attempts: done, never due. */
static void test_backfill_gives_up(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_ALARMS), 16, 1, T0 - 3600);
  for (int k = 0; k < SCHED_MAX_FAILURES; k++) {
    f->mono += 1000;
    sched_pump(f->s);
    assert_int_equal(take_starts(f), 1);
    sched_call_ended(f->s, false);
    sched_fail(f->s, 0, STREAM_ALARMS, "test: failed");
  }
  assert_int_equal(dev(f, 0)->failures[STREAM_ALARMS], 255);
  f->mono += 1000;
  assert_int_equal(sched_due(f->s, 0, STREAM_ALARMS, f->now, NULL), DUE_NO);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  teardown_fixture(f);
}

/* A full page: the next page is asked at once, even though /api/track says nothing past
 * the cursor (spec 2.3, 2.8: no exception). A short page ends it. */
static void test_full_page_asks_next_at_once(void **state) {
  (void)state;
  fixture_t *f = setup(false, STREAM_BIT(STREAM_PLAYBACK), 16, 1, T0 - 3600);
  dev(f, 0)->last_gpstime = T0 - 3000;
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  /* a full page whose last record is past what the poll said */
  commit_page(f, &f->starts[0], (paging_cursor_t){T0 - 2000, true}, true);
  assert_int_equal(sched_due(f->s, 0, STREAM_PLAYBACK, f->now, NULL), DUE_YES);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  /* the short page that follows: no news from the poll, so nothing more */
  commit_page(f, &f->starts[0], (paging_cursor_t){T0 - 1990, true}, false);
  assert_int_equal(sched_due(f->s, 0, STREAM_PLAYBACK, f->now, NULL), DUE_NO);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  teardown_fixture(f);
}

/* run: alarms are asked on an event (a track record), at most once per alarm_interval;
 * while silent, once per alarm_idle_interval; at once after a datastatus change. */
static void test_alarm_cadence(void **state) {
  (void)state;
  fixture_t *f = setup(false, STREAM_BIT(STREAM_ALARMS), 16, 1, T0 - 600);
  alarmcad_record_t r = {.gpstime = T0 - 10, .heard = T0 - 10, .datastatus = 1};
  assert_int_equal(alarmcad_track(f->acad, 0, &r, f->now), 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].end, T0 - ALARMCAD_INGEST_MARGIN_S);
  commit_page(f, &f->starts[0], (paging_cursor_t){f->starts[0].end + 1, false}, false);
  /* a new record 60 s later: an event, but within alarm_interval (300 s) */
  f->now += 60;
  r.gpstime = r.heard = f->now - 5;
  assert_int_equal(alarmcad_track(f->acad, 0, &r, f->now), 0);
  sched_mark_device(f->s, 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  /* once alarm_interval has passed since the window asked, the event is answered (the
   * next track poll revisits the device: every record queues it) */
  f->now += 300;
  sched_mark_device(f->s, 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  commit_page(f, &f->starts[0], (paging_cursor_t){f->starts[0].end + 1, false}, false);
  /* silent: nothing for hours... */
  f->now += 3 * 3600;
  sched_mark_device(f->s, 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  /* ...until alarm_idle_interval (6 h) */
  f->now += 3 * 3600 + 60;
  sched_mark_device(f->s, 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  commit_page(f, &f->starts[0], (paging_cursor_t){f->starts[0].end + 1, false}, false);
  /* the device goes offline: asked at once, up to the present itself */
  f->now += 20;
  r.datastatus = 2;
  assert_int_equal(alarmcad_track(f->acad, 0, &r, f->now), 0);
  sched_mark_device(f->s, 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].end, f->now);
  teardown_fixture(f);
}

/* No more than max_in_flight calls out; the next device is started when one ends, in
 * round-robin order. */
static void test_budget_of_calls_in_flight(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_PLAYBACK), 2, 5, T0 - 3600);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 2);
  assert_int_equal(f->starts[0].dev, 0);
  assert_int_equal(f->starts[1].dev, 1);
  assert_int_equal(sched_free_slots(f->s), 0);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  commit_page(f, &f->starts[0], (paging_cursor_t){T0 - 1, true}, false);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].dev, 2);
  /* a call outside pump (gap healing) takes a slot too */
  sched_call_begun(f->s);
  assert_int_equal(sched_free_slots(f->s), 0);
  teardown_fixture(f);
}

/* Not ready (the writer is full, discovery not over, stopping): nothing is handed out
 * until it is; and a blocked account's devices are never started. */
static void test_ready_gate_and_blocked_accounts(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_PLAYBACK), 16, 3, T0 - 3600);
  dev(f, 1)->account = 1;
  f->blocked[1] = true;
  f->ready = false;
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  assert_false(sched_started(f->s));
  f->ready = true;
  sched_pump(f->s);
  assert_true(sched_started(f->s));
  assert_int_equal(take_starts(f), 2);
  assert_int_equal(f->starts[0].dev, 0);
  assert_int_equal(f->starts[1].dev, 2);
  assert_int_equal(sched_due(f->s, 1, STREAM_PLAYBACK, f->now, NULL), DUE_BLOCKED);
  teardown_fixture(f);
}

/* A start that cannot be made fails the stream (backoff), it is not retried in a loop. */
static void test_failed_start_backs_off(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_PLAYBACK), 16, 1, T0 - 3600);
  f->fail_starts = true;
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 0);
  assert_int_equal(sched_in_flight(f->s), 0);
  assert_int_equal(dev(f, 0)->failures[STREAM_PLAYBACK], 1);
  assert_int_equal(sched_due(f->s, 0, STREAM_PLAYBACK, f->now, NULL), DUE_LATER);
  teardown_fixture(f);
}

/* Mileage: completed days only, devices of one account and day in one call; a day not
 * over yet becomes due by time alone. */
static void test_mileage_windows(void **state) {
  (void)state;
  int64_t today = T0 - ((T0 % 86400) + 86400) % 86400;
  fixture_t *f = setup(false, STREAM_BIT(STREAM_MILEAGE), 16, 4, today - 86400);
  dev(f, 3)->cursor[STREAM_MILEAGE].begin = today; /* today: not over yet */
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].stream, -1);
  assert_int_equal(f->starts[0].n_devs, 3);
  assert_int_equal(f->starts[0].day, today - 86400);
  assert_int_equal(sched_due(f->s, 3, STREAM_MILEAGE, f->now, NULL), DUE_NO);
  /* once the day has ended, the pump looks again by itself (no event) */
  f->now = today + 86400;
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].dev, 3);
  assert_int_equal(f->starts[0].n_devs, 1);
  teardown_fixture(f);
}

/* A backfill's stream is due until its cursor reaches the range's end; then DUE_NO. */
static void test_backfill_window_ends_at_range(void **state) {
  (void)state;
  fixture_t *f = setup(true, STREAM_BIT(STREAM_PLAYBACK), 16, 1, T0 - 3600);
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 1);
  assert_int_equal(f->starts[0].end, T0 - 1); /* `to` is exclusive */
  commit_page(f, &f->starts[0], (paging_cursor_t){T0 - 1, true}, false);
  assert_int_equal(sched_due(f->s, 0, STREAM_PLAYBACK, f->now, NULL), DUE_NO);
  teardown_fixture(f);
}

/* run: playback has a deep backlog on a paced lane (every device far behind, its lane
 * sends one call a spacing) while alarm/list, a lane of its own, is free: alarms that
 * become due get calls at once, they do not wait behind playback calls that only queue
 * at the pacer. (Fails when the budget of calls in flight is shared without regard to
 * lanes: playback's queue holds every slot.) */
static void test_alarms_not_starved_by_paced_playback(void **state) {
  (void)state;
  fixture_t *f = setup(false, STREAM_BIT(STREAM_PLAYBACK) | STREAM_BIT(STREAM_ALARMS), 8, 20,
                       T0 - 86400);
  f->lane_cap = 2;
  for (uint32_t i = 0; i < 20; i++) {
    dev(f, i)->cursor[STREAM_PLAYBACK].have_begin = true;
    dev(f, i)->last_gpstime = T0 - 10;
  }
  /* every device's alarms are asked once (the alarm lane sends its calls and they are
   * answered) while the pacer holds playback's */
  for (int round = 0; round < 20; round++) {
    sched_pump(f->s);
    for (size_t k = 0; k < f->n_starts; k++) {
      if (f->starts[k].stream != STREAM_ALARMS) continue;
      f->lane_waiting[STREAM_ALARMS]--;
      commit_page(f, &f->starts[k], (paging_cursor_t){f->starts[k].end + 1, false}, false);
    }
    f->n_starts = 0;
  }
  assert_int_equal(f->lane_waiting[STREAM_ALARMS], 0);
  /* alarm_interval later, track records: every device's alarms are due (an event); no
   * playback call has been sent yet */
  f->now += 301;
  for (uint32_t i = 0; i < 20; i++) {
    dev(f, i)->last_gpstime = f->now - 10;
    alarmcad_record_t r = {.gpstime = f->now - 5, .heard = f->now - 5, .datastatus = 1};
    assert_int_equal(alarmcad_track(f->acad, i, &r, f->now), 0);
    sched_mark_device(f->s, i);
  }
  sched_pump(f->s);
  size_t alarms = 0;
  for (size_t k = 0; k < f->n_starts; k++)
    if (f->starts[k].stream == STREAM_ALARMS) alarms++;
  assert_int_equal(alarms, 2); /* the alarm lane's two, at once */
  take_starts(f);
  /* the alarm lane sends both and they are answered: the next two alarms go, though
   * playback's lane still holds its two */
  for (int k = 0; k < 2; k++) {
    f->lane_waiting[STREAM_ALARMS]--;
    sched_call_ended(f->s, false);
  }
  sched_pump(f->s);
  assert_int_equal(take_starts(f), 2);
  assert_int_equal(f->lane_waiting[STREAM_ALARMS], 2);
  assert_int_equal(f->lane_waiting[STREAM_PLAYBACK], 2);
  teardown_fixture(f);
}

/* Due playback is taken oldest coverage first (the device whose cursor is earliest),
 * not in the order of the device table, so that the lag behind the platform is spread
 * evenly when the playback budget cannot keep every device current. */
static void test_playback_oldest_coverage_first(void **state) {
  (void)state;
  fixture_t *f = setup(false, STREAM_BIT(STREAM_PLAYBACK), 1, 4, T0 - 3600);
  const int64_t begin[4] = {T0 - 1000, T0 - 4000, T0 - 2000, T0 - 3000};
  for (uint32_t i = 0; i < 4; i++) {
    dev(f, i)->cursor[STREAM_PLAYBACK] = (paging_cursor_t){begin[i], true};
    dev(f, i)->last_gpstime = T0 - 10;
  }
  sched_mark_all(f->s);
  const uint32_t order[5] = {1, 3, 2, 0, 1};
  for (int k = 0; k < 5; k++) {
    sched_pump(f->s);
    assert_int_equal(take_starts(f), 1);
    assert_int_equal(f->starts[0].dev, order[k]);
    /* device 1's page ends before device 0's cursor: it comes again after device 0 */
    int64_t end = f->starts[0].dev == 1 ? T0 - 500 : T0 - 100;
    commit_page(f, &f->starts[0], (paging_cursor_t){end, true}, false);
  }
  teardown_fixture(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_playback_due_on_news_only),
      cmocka_unit_test(test_page_asks_only_the_gap),
      cmocka_unit_test(test_backoff_after_failures),
      cmocka_unit_test(test_backfill_gives_up),
      cmocka_unit_test(test_full_page_asks_next_at_once),
      cmocka_unit_test(test_alarm_cadence),
      cmocka_unit_test(test_budget_of_calls_in_flight),
      cmocka_unit_test(test_ready_gate_and_blocked_accounts),
      cmocka_unit_test(test_failed_start_backs_off),
      cmocka_unit_test(test_mileage_windows),
      cmocka_unit_test(test_backfill_window_ends_at_range),
      cmocka_unit_test(test_alarms_not_starved_by_paced_playback),
      cmocka_unit_test(test_playback_oldest_coverage_first),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
