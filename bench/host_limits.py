#!/usr/bin/python3
"""The figures of scripts/bench's "under the host limits" rows (bench/host_limits.sh),
from fleetarc-sim's truth, the archive's rows and the simulator's request counters.

usage: host_limits.py TRUTH_DIR ARCHIVE_POSITIONS ARCHIVE_ALARMS STATS_JSON PARAMS_JSON [BEGINS]

ARCHIVE_POSITIONS: CSV lines "imei,gpstime" (UNIX s); ARCHIVE_ALARMS: "imei,systemtime".
BEGINS: CSV lines "imei,begin": where fleetarc's window of that device begins (its
lookback from its present when the device got its cursor); devices not listed begin at B.
PARAMS_JSON: {"begin": B, "start": P0, "end": T, "seconds": R, "speed": X,
              "spacing_ms": {"playback": .., "alarm/list": .., "track": ..}} where B is the
latest begin of fleetarc's windows (the platform's present less the lookback),
P0 the platform's present when it started, T the platform's present when it was stopped
(all platform seconds; the budgets are of (T - P0) / X real seconds), R the real seconds
it ran, X the simulator's speed and spacing_ms
the per-account limits as configured (real ms).

Scope: the truth's positions with gpstime in [the device's begin, T) and alarms with
systemtime in [B, T).
Lag of a device at T: T minus the gpstime of its first point in scope that the archive
lacks (0 when it lacks none), over devices with points in scope.

The optimum: the same playback budget (one request per playback spacing, R seconds, one
account) spent by an ideal scheduler: each slot (platform time P0 + k * spacing * X) asks
the device whose archive ends earliest among those with points after that end and up to
the slot, a full page (1000) or all it has. The alarms' optimum: the alarm/list budget
spent asking the devices in turn (blind: one request per device per turn), each all its
alarms up to the slot less the 30 s ingest margin (a page of 100 at most). Prints one
JSON object.
"""
import bisect
import collections
import csv
import heapq
import json
import sys


def pct(xs, p):
    if not xs:
        return 0
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def lags(truth, have, end):
    out = []
    for imei, times in truth.items():
        h = have.get(imei, set())
        first = next((t for t in times if t not in h), None)
        out.append(0 if first is None else end - first)
    return out


def optimum(truth, begin, start, end, slot_s):
    """Ideal playback scheduler under the budget: returns (points, requests, lags)."""
    cursor = {imei: begin - 1 for imei in truth}  # archived up to and including
    got = 0
    requests = 0
    ready = []    # (cursor, imei): devices with points after their cursor, up to the slot
    waiting = []  # (time of the next point, cursor, imei): not yet reported at the slot
    for imei, times in truth.items():
        if times:
            heapq.heappush(waiting, (times[0], cursor[imei], imei))
    t = start
    while t < end:
        while waiting and waiting[0][0] <= t:
            _, c, imei = heapq.heappop(waiting)
            heapq.heappush(ready, (c, imei))
        if ready:
            c, imei = heapq.heappop(ready)
            times = truth[imei]
            i = bisect.bisect_right(times, c)
            j = min(bisect.bisect_right(times, t), i + 1000)
            got += j - i
            # all up to the slot, or a full page: the next one starts after its last time
            cursor[imei] = t if j - i < 1000 else times[j - 1]
            requests += 1
            if j < len(times):
                if times[j] <= t:
                    heapq.heappush(ready, (cursor[imei], imei))
                else:
                    heapq.heappush(waiting, (times[j], cursor[imei], imei))
        t += slot_s
    lg = []
    for imei, times in truth.items():
        i = bisect.bisect_right(times, cursor[imei])
        lg.append(0 if i >= len(times) else end - times[i])
    return got, requests, lg


def alarm_optimum(talarms, devices, begin, start, end, slot_s, margin_s=30):
    """Alarms under the alarm/list budget asked blind (nothing tells when a device has an
    alarm: one request per device per turn): each slot asks the next device in turn for
    its alarms from its last ask up to the slot less the ingest margin, a page (100) at
    most. Returns (alarms archived, requests)."""
    times = {imei: sorted(talarms.get(imei, ())) for imei in devices}
    cursor = {imei: begin - 1 for imei in devices}
    order = sorted(devices)
    got = requests = 0
    k = 0
    t = start
    while t < end and order:
        imei = order[k % len(order)]
        k += 1
        ts = times[imei]
        i = bisect.bisect_right(ts, cursor[imei])
        j = min(bisect.bisect_right(ts, t - margin_s), i + 100)
        got += j - i
        cursor[imei] = t - margin_s if j - i < 100 else ts[j - 1]
        requests += 1
        t += slot_s
    return got, requests


def main():
    tdir, apos, aalm, stats_f, params_f = sys.argv[1:6]
    p = json.load(open(params_f))
    begin, start, end = p["begin"], p["start"], p["end"]
    begins = {}
    if len(sys.argv) > 6:
        with open(sys.argv[6]) as f:
            for line in f:
                imei, b = line.strip().split(",")
                begins[imei] = int(b)
    truth = collections.defaultdict(list)
    with open(tdir + "/positions.csv") as f:
        for r in csv.DictReader(f):
            g = int(r["gpstime"])
            if begins.get(r["imei"], begin) <= g < end:
                truth[r["imei"]].append(g)
    for v in truth.values():
        v.sort()
    talarms = collections.defaultdict(set)
    with open(tdir + "/alarms.csv") as f:
        for r in csv.DictReader(f):
            s = int(r["systemtime"])
            if begin <= s < end:
                talarms[r["imei"]].add(s)
    have = collections.defaultdict(set)
    with open(apos) as f:
        for line in f:
            imei, g = line.strip().split(",")
            have[imei].add(int(g))
    ahave = collections.defaultdict(set)
    with open(aalm) as f:
        for line in f:
            imei, s = line.strip().split(",")
            ahave[imei].add(int(s))
    stats_all = json.load(open(stats_f))
    stats = stats_all["requests"]

    truth_points = sum(len(v) for v in truth.values())
    archived = sum(len(have.get(k, set()) & set(v)) for k, v in truth.items())
    truth_alarms = sum(len(v) for v in talarms.values())
    archived_alarms = sum(len(ahave.get(k, set()) & v) for k, v in talarms.items())
    lg = lags(truth, have, end)

    sp = p["spacing_ms"]
    speed = p["speed"]
    secs = (end - start) / speed  # real seconds between the two readings of the present
    budget = {k: int(secs * 1000 // v) for k, v in sp.items() if v > 0}
    slot_s = sp["playback"] / 1000.0 * speed
    opt_points, opt_requests, opt_lg = optimum(truth, begin, start, end, slot_s)
    alarm_slot_s = sp["alarm/list"] / 1000.0 * speed
    opt_alarms, opt_alarm_requests = alarm_optimum(
        talarms, set(truth) | set(talarms), begin, start, end, alarm_slot_s)

    out = {
        "truth_points": truth_points, "archived": archived,
        "share": archived / truth_points if truth_points else 0,
        "truth_alarms": truth_alarms, "archived_alarms": archived_alarms,
        "lag_p50": pct(lg, 50), "lag_p95": pct(lg, 95), "lag_max": max(lg) if lg else 0,
        "devices": len(truth),
        "requests": {k: stats.get(k, 0) for k in
                     ("authorization", "user/list", "device/list", "track", "playback",
                      "alarm/list", "device/mileage", "total")},
        "budget": budget,
        "refused_10009": stats_all.get("responses", {}).get("10009", 0),
        "playback_per_point": stats.get("playback", 0) / archived if archived else 0,
        "total_per_point": stats.get("total", 0) / archived if archived else 0,
        "alarm_share": archived_alarms / truth_alarms if truth_alarms else 0,
        "opt_alarms": opt_alarms, "opt_alarm_requests": opt_alarm_requests,
        "opt_alarm_share": opt_alarms / truth_alarms if truth_alarms else 0,
        "opt_points": opt_points, "opt_share": opt_points / truth_points if truth_points else 0,
        "opt_requests": opt_requests,
        "opt_per_point": opt_requests / opt_points if opt_points else 0,
        "opt_lag_p50": pct(opt_lg, 50), "opt_lag_p95": pct(opt_lg, 95),
        "opt_lag_max": max(opt_lg) if opt_lg else 0,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
