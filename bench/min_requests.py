#!/usr/bin/python3
"""The fewest requests the Open API's paging rules allow for a backfill of [FROM, TO),
from fleetarc-sim's truth CSVs (scripts/bench, figure 3). Prints one JSON object.

Per device: playback pages = the 1000-record rule run on its sorted gpstimes (a full page
asks again from the last record's time, always: spec 2.3 has no exception, even when
/api/track says the device sent nothing newer); alarm pages = the 100-record rule on its
sorted system times over [FROM, TO - 1 + 6 h] (a backfill asks alarms that late: uploads
lag). A device with no point in range costs no playback (the track poll says so); every
device costs at least one alarm page (the platform makes some alarms by itself: offline,
geofence, parking, so a silent device may have alarms). Mileage: one request per UTC day
per 100 devices
(the API sums a window, so daily km need a window per day). Fixed: one login, one
/api/track per 100 devices, one user/list and one device/list per account.
usage: min_requests.py TRUTH_DIR FROM TO
"""
import collections
import csv
import json
import sys

ALARM_LATE = 6 * 3600


def pages(times, begin, end, size):
    """Requests the paging rule makes over sorted times in [begin, end]: a full page is
    always followed by another."""
    times = [t for t in times if begin <= t <= end]
    n, i = 0, 0
    while True:
        n += 1
        page = times[i:i + size]
        if len(page) < size:
            return n
        last = page[-1]
        nb = last if last != begin else last + 1  # the guard of a full page of one time
        # the next page starts at the first record at or after nb
        j = i
        while j < len(times) and times[j] < nb:
            j += 1
        i, begin = j, nb


def main():
    d, t_from, t_to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pos = collections.defaultdict(list)
    with open(d + "/positions.csv") as f:
        for r in csv.DictReader(f):
            g = int(r["gpstime"])
            if t_from <= g < t_to:
                pos[r["imei"]].append(g)
    alm = collections.defaultdict(list)
    with open(d + "/alarms.csv") as f:
        for r in csv.DictReader(f):
            alm[r["imei"]].append(int(r["systemtime"]))
    accounts, imeis = set(), []
    with open(d + "/devices.csv") as f:
        for r in csv.DictReader(f):
            accounts.add(r["account"])
            imeis.append(r["imei"])
    devices = len(imeis)
    playback = sum(pages(sorted(v), t_from, t_to - 1, 1000) for v in pos.values())
    alarms = sum(pages(sorted(alm.get(k, [])), t_from, t_to - 1 + ALARM_LATE, 100) for k in imeis)
    days = (t_to - t_from + 86399) // 86400
    mileage = days * ((devices + 99) // 100)
    fixed = {"authorization": 1, "track": (devices + 99) // 100,
             "user/list": len(accounts), "device/list": len(accounts)}
    out = {"playback": playback, "alarm/list": alarms, "device/mileage": mileage}
    out.update(fixed)
    out["total"] = sum(out.values())
    out["points"] = sum(len(v) for v in pos.values())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
