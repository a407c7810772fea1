/* fleetarc-sim: the Open API simulator's entry point. Builds the fleet, optionally
 * writes its truth CSVs, serves until SIGINT/SIGTERM and closes every handle. On
 * start it prints, flushed: "listen HOST:PORT", "account NAME", "password SECRET",
 * "ready" (tests and scripts parse these lines). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "sim/fleet.h"
#include "sim/http_server.h"
#include "sim/sim_api.h"
#include "sim/sim_options.h"
#include "util/log.h"
#include "util/version.h"

static void usage(FILE *out) {
  fprintf(out,
          "fleetarc-sim %s: a simulator of the tracking platform's Open API\n"
          "\n"
          "usage: fleetarc-sim --listen HOST:PORT --devices N [options]\n"
          "\n"
          "  --listen HOST:PORT   where to listen (port 0: a free port; default 127.0.0.1:8080)\n"
          "  --devices N          fleet size (default 100)\n"
          "  --account-size N     devices per customer account, 1..400 (default 400);\n"
          "                       demo holds 10, customers the rest (--truth: accounts.csv\n"
          "                       has every account's name, parent and password)\n"
          "  --seed S             the fleet and everything random is a function of S (default 1),\n"
          "                       but the tokens\n"
          "  --history DAYS       the window the platform holds before the present (default 7)\n"
          "  --now T              the present at start: UNIX seconds, 2026-11-01 or\n"
          "                       2026-11-01T06:30:00Z (default: the real clock)\n"
          "  --speed X            simulated seconds per real second (default 1; 0 freezes)\n"
          "  --faults SPEC        e.g. http500=0.02,http502=0.02,slow=0.01,timeout=0.01,\n"
          "                       reset=0.01,truncate=0.02,syserr=0.02,ratelimit=0.02,revoke=0.01,\n"
          "                       echo=0.01 (a 400 page quoting the request line)\n"
          "  --limits SPEC        least spacing per account and endpoint, e.g.\n"
          "                       track=10s,playback=12s,authorization=12s,default=1s (off by default)\n"
          "  --truth DIR          write positions/alarms/devices/trips CSVs of [epoch, present)\n"
          "  --truth-until T      with --truth: of [epoch, T) instead (T may be in the future:\n"
          "                       the fleet is a function of time; for runs with --speed)\n"
          "  --no-traps           leave out the trap devices of NOTES.md\n"
          "  --token-ttl SECONDS  access token lifetime (default 7200)\n"
          "  --token-seed N       the tokens' key (default: random per start, so that no two\n"
          "                       simulators accept each other's tokens); for reproducible tests\n"
          "  --nodata FORM        how \"no data\" is said: 20023 (default; an empty list is []),\n"
          "                       or code 0 with the record empty (\"\"), missing or null\n"
          "  --clock-skew SECONDS the server's clock is the real one plus this (10014 check)\n"
          "  --offline-after DUR  the platform's offline timeout (31m..720h; default off): a\n"
          "                       device silent that long turns datastatus 4 and the platform\n"
          "                       makes an offlineAlarm (28) then (off: datastatus 4 after 1 day)\n"
          "  --parking-alarm DUR  the platform makes a parkingAlarm (30) this long after a\n"
          "                       trip's end while still parked (1s..6h; default off)\n"
          "  --silence IMEI@T     the device stops reporting at T (repeatable)\n"
          "  --track-behind IMEI@T  /api/track answers for the device as of T: its\n"
          "                       systemtime stays behind its alarms (repeatable)\n"
          "  --late-uploads SPEC  e.g. share=0.2,window=20m,delay=15m (the defaults): that\n"
          "                       share of devices loses coverage once in each trip long\n"
          "                       enough; the window's reports reach playback only 'delay'\n"
          "                       after it ends, after the live fix; --truth adds late.csv\n"
          "  --inject SPEC        bad values on purpose, e.g. course=IMEI,group=#3,device=IMEI,\n"
          "                       hugetime=IMEI,status=IMEI,jump=259200,jump_after=5,jump_for=8,\n"
          "                       fanout=50 (see src/sim/sim_inject.h; #N: the N-th device)\n"
          "  --log-level LEVEL    error, warn, info, debug (default warn)\n"
          "  -h, --help           this help\n"
          "\n"
          "On start it prints: listen HOST:PORT, account NAME, password SECRET, with --inject\n"
          "one line \"inject KIND IMEI\" per damaged device, then ready.\n"
          "GET /sim/stats shows counters; POST /sim/reset-stats zeroes them.\n",
          fleetarc_version);
}

typedef struct app {
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;
  sim_http_server_t *server;
} app_t;

static void on_signal(uv_signal_t *h, int signum) {
  app_t *app = h->data;
  log_info("sim: signal %d, shutting down", signum);
  sim_http_server_close(app->server);
  uv_close((uv_handle_t *)&app->sigint, NULL);
  uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -EINVAL;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  enum { O_LISTEN = 256, O_DEVICES, O_SEED, O_HISTORY, O_NOW, O_SPEED, O_FAULTS, O_LIMITS,
         O_TRUTH, O_NO_TRAPS, O_TTL, O_SKEW, O_LOG, O_OFFLINE, O_PARKING, O_SILENCE,
         O_BEHIND, O_LATE, O_TOKEN_SEED, O_NODATA, O_INJECT, O_ACCOUNT_SIZE, O_TRUTH_UNTIL };
  static const struct option longopts[] = {
    {"listen", required_argument, NULL, O_LISTEN},   {"devices", required_argument, NULL, O_DEVICES},
    {"seed", required_argument, NULL, O_SEED},       {"history", required_argument, NULL, O_HISTORY},
    {"now", required_argument, NULL, O_NOW},         {"speed", required_argument, NULL, O_SPEED},
    {"faults", required_argument, NULL, O_FAULTS},   {"limits", required_argument, NULL, O_LIMITS},
    {"truth", required_argument, NULL, O_TRUTH},     {"no-traps", no_argument, NULL, O_NO_TRAPS},
    {"token-ttl", required_argument, NULL, O_TTL},   {"clock-skew", required_argument, NULL, O_SKEW},
    {"log-level", required_argument, NULL, O_LOG},
    {"offline-after", required_argument, NULL, O_OFFLINE},
    {"parking-alarm", required_argument, NULL, O_PARKING},
    {"silence", required_argument, NULL, O_SILENCE},
    {"track-behind", required_argument, NULL, O_BEHIND},
    {"late-uploads", required_argument, NULL, O_LATE},
    {"token-seed", required_argument, NULL, O_TOKEN_SEED},
    {"nodata", required_argument, NULL, O_NODATA},   {"help", no_argument, NULL, 'h'},
    {"inject", required_argument, NULL, O_INJECT},
    {"account-size", required_argument, NULL, O_ACCOUNT_SIZE},
    {"truth-until", required_argument, NULL, O_TRUTH_UNTIL},
    {NULL, 0, NULL, 0},
  };
  char host[256] = "127.0.0.1";
  long long port = 8080, devices = 100, account_size = 400, history_days = 7, ttl = 7200, skew = 0, v;
  uint64_t seed = 1;
  /* Random per start: the clock's nanoseconds and the pid, mixed by sim_api. */
  uint64_t token_seed = uv_hrtime() ^ ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 40);
  int64_t now = 0, truth_until = 0;
  bool have_now = false, have_truth_until = false, traps = true;
  double speed = 1.0;
  const char *truth = NULL, *inject = NULL;
  int64_t offline_ms = 0, parking_ms = 0, late_window = 0, late_delay = 0;
  double late_share = 0;
  enum { MAX_PINS = 64 };
  const char *silence_arg[MAX_PINS], *behind_arg[MAX_PINS];
  size_t nsilence = 0, nbehind = 0;
  sim_track_behind_t behind[MAX_PINS];
  sim_api_options_t opt = {0};
  for (int e = 0; e < API_EP_COUNT; e++) opt.limit_ms[e] = -1;
  signal(SIGPIPE, SIG_IGN);
  log_set_level(LOG_LEVEL_WARN);

  int ch;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
      case O_LISTEN: {
        const char *arg = optarg, *colon = strrchr(arg, ':');
        size_t hl = colon ? (size_t)(colon - arg) : 0;
        if (hl && arg[0] == '[' && arg[hl - 1] == ']') {
          arg++;
          hl -= 2;
        }
        if (!colon || hl == 0 || hl >= sizeof host || parse_int(colon + 1, 0, 65535, &port)) {
          fprintf(stderr, "fleetarc-sim: --listen wants HOST:PORT, got '%s'\n", optarg);
          return 2;
        }
        memcpy(host, arg, hl);
        host[hl] = '\0';
        break;
      }
      case O_DEVICES:
        if (parse_int(optarg, 0, 10000000, &devices)) goto bad;
        break;
      case O_ACCOUNT_SIZE:
        if (parse_int(optarg, 1, 400, &account_size)) goto bad;
        break;
      case O_SEED:
        if (parse_int(optarg, 0, INT64_MAX, &v)) goto bad;
        seed = (uint64_t)v;
        break;
      case O_HISTORY:
        if (parse_int(optarg, 1, 3650, &history_days)) goto bad;
        break;
      case O_NOW:
        if (sim_parse_time(optarg, &now) != 0) goto bad;
        have_now = true;
        break;
      case O_SPEED: {
        char *end;
        speed = strtod(optarg, &end);
        if (end == optarg || *end || !isfinite(speed) || speed < 0) goto bad;
        break;
      }
      case O_FAULTS:
        if (sim_parse_faults(optarg, opt.fault_prob) != 0) goto bad;
        break;
      case O_LIMITS:
        if (sim_parse_limits(optarg, opt.limit_ms) != 0) goto bad;
        break;
      case O_TRUTH: truth = optarg; break;
      case O_TRUTH_UNTIL:
        if (sim_parse_time(optarg, &truth_until) != 0) goto bad;
        have_truth_until = true;
        break;
      case O_INJECT: inject = optarg; break;
      case O_NO_TRAPS: traps = false; break;
      case O_TTL:
        if (parse_int(optarg, 1, 100000000, &ttl)) goto bad;
        break;
      case O_SKEW:
        if (parse_int(optarg, -100000000, 100000000, &skew)) goto bad;
        break;
      case O_LOG: {
        log_level_t lvl;
        if (log_level_parse(optarg, &lvl) != 0) goto bad;
        log_set_level(lvl);
        break;
      }
      case O_OFFLINE:
        if (sim_parse_duration_ms(optarg, &offline_ms) != 0 ||
            offline_ms < SIM_OFFLINE_AFTER_MIN * 1000LL || offline_ms > SIM_OFFLINE_AFTER_MAX * 1000LL)
          goto bad;
        break;
      case O_PARKING:
        if (sim_parse_duration_ms(optarg, &parking_ms) != 0 || parking_ms < 1000 ||
            parking_ms > SIM_PARKING_AFTER_MAX * 1000LL)
          goto bad;
        break;
      case O_SILENCE:
      case O_BEHIND: {
        int64_t t;
        const char *at = strchr(optarg, '@');
        if (!at || sim_parse_time(at + 1, &t) != 0) goto bad;
        if (ch == O_SILENCE ? nsilence == MAX_PINS : nbehind == MAX_PINS) goto bad;
        if (ch == O_SILENCE) silence_arg[nsilence++] = optarg;
        else behind_arg[nbehind++] = optarg;
        break;
      }
      case O_LATE:
        if (sim_parse_late(optarg, &late_share, &late_window, &late_delay) != 0) goto bad;
        break;
      case O_TOKEN_SEED:
        if (parse_int(optarg, 0, INT64_MAX, &v)) goto bad;
        token_seed = (uint64_t)v;
        break;
      case O_NODATA:
        if (sim_parse_nodata(optarg, &opt.nodata) != 0) goto bad;
        break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
    continue;
  bad:
    fprintf(stderr, "fleetarc-sim: bad value '%s' for --%s\n", optarg,
            longopts[ch - O_LISTEN].name);
    return 2;
  }
  if (optind < argc) {
    fprintf(stderr, "fleetarc-sim: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }

  int status = 1;
  app_t app = {0};
  sim_fleet_t *fleet = NULL;
  sim_api_t *api = NULL;
  bool loop_ok = false;
  int64_t present = have_now ? now : (int64_t)time(NULL);
  int64_t history_s = (int64_t)history_days * 86400;
  sim_fleet_options_t fo = {.seed = seed, .devices = (uint32_t)devices, .traps = traps,
                            .epoch = present - history_s,
                            .offline_after = offline_ms / 1000, .parking_after = parking_ms / 1000,
                            .late_share = late_share, .late_window = late_window,
                            .late_delay = late_delay, .account_size = (uint32_t)account_size};
  fleet = sim_fleet_new(&fo);
  if (!fleet) {
    fprintf(stderr, "fleetarc-sim: cannot build the fleet\n");
    goto out;
  }
  for (size_t k = 0; k < nsilence + nbehind; k++) {
    const char *arg = k < nsilence ? silence_arg[k] : behind_arg[k - nsilence];
    const char *at = strchr(arg, '@');
    char imei[32];
    int64_t t = 0, dev = -1;
    if ((size_t)(at - arg) < sizeof imei) {
      memcpy(imei, arg, (size_t)(at - arg));
      imei[at - arg] = '\0';
      dev = sim_fleet_device_find(fleet, imei);
    }
    if (dev < 0 || sim_parse_time(at + 1, &t) != 0) {
      fprintf(stderr, "fleetarc-sim: --%s %s: no such device\n",
              k < nsilence ? "silence" : "track-behind", arg);
      status = 2;
      goto out;
    }
    if (k < nsilence) {
      if (sim_fleet_silence(fleet, (uint32_t)dev, t) != 0) goto out;
    } else {
      behind[k - nsilence] = (sim_track_behind_t){(uint32_t)dev, t};
    }
  }
  if (truth) {
    int64_t until = have_truth_until ? truth_until : present;
    if (until < fo.epoch) until = fo.epoch;
    int rc = sim_fleet_write_truth(fleet, truth, fo.epoch, until);
    if (rc) {
      fprintf(stderr, "fleetarc-sim: cannot write the truth to %s: %s\n", truth, strerror(-rc));
      goto out;
    }
  }
  opt.seed = seed;
  opt.token_seed = token_seed;
  opt.present = present;
  opt.speed = speed;
  opt.history_s = history_s;
  opt.token_ttl_s = ttl;
  opt.clock_skew_s = skew;
  opt.track_behind = behind;
  opt.ntrack_behind = nbehind;
  sim_inject_none(&opt.inject);
  if (inject) {
    if (sim_inject_parse(inject, fleet, &opt.inject) != 0) {
      fprintf(stderr, "fleetarc-sim: bad value '%s' for --inject (an unknown key or device?)\n",
              inject);
      status = 2;
      goto out;
    }
    opt.inject_on = true;
  }
  api = sim_api_new(fleet, &opt);
  if (!api || uv_loop_init(&app.loop) != 0) {
    fprintf(stderr, "fleetarc-sim: out of memory\n");
    goto out;
  }
  loop_ok = true;
  app.server = sim_http_server_new(&app.loop, sim_api_handle, api);
  if (!app.server) goto out;
  sim_http_server_set_clock_skew(app.server, (long)skew);
  int bound = 0, rc = sim_http_server_listen(app.server, host, (int)port, &bound);
  if (rc) {
    fprintf(stderr, "fleetarc-sim: cannot listen on %s:%lld: %s\n", host, port, uv_strerror(rc));
    sim_http_server_close(app.server);
    uv_run(&app.loop, UV_RUN_DEFAULT);
    goto out;
  }
  uv_signal_init(&app.loop, &app.sigint);
  uv_signal_init(&app.loop, &app.sigterm);
  app.sigint.data = app.sigterm.data = &app;
  uv_signal_start(&app.sigint, on_signal, SIGINT);
  uv_signal_start(&app.sigterm, on_signal, SIGTERM);

  const sim_account_t *root = sim_fleet_account(fleet, 0);
  printf("listen %s:%d\naccount %s\npassword %s\n", host, bound, root->account, root->password);
  if (opt.inject_on) sim_inject_print(&opt.inject, fleet, stdout);
  printf("ready\n");
  fflush(stdout);
  log_info("sim: %zu devices, %zu accounts, present %lld", sim_fleet_device_count(fleet),
           sim_fleet_account_count(fleet), (long long)present);

  uv_run(&app.loop, UV_RUN_DEFAULT);
  status = 0;
out:
  if (loop_ok) {
    int lc = uv_loop_close(&app.loop);
    if (lc != 0) {
      fprintf(stderr, "fleetarc-sim: uv_loop_close: %s\n", uv_strerror(lc));
      status = 1;
    }
  }
  sim_http_server_free(app.server);
  sim_api_free(api);
  sim_fleet_free(fleet);
  return status;
}
