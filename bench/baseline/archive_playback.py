#!/usr/bin/python3
"""The usual way: a sequential Python integration of the Open API, written the way common
ones are (requests + psycopg2), to compare fleetarc against (scripts/bench, figure 4).

Login, user list, device list, then for each device the playback pages of [from, to):
the next page starts at the last record's gpstime (the boundary comes back and is absorbed
by ON CONFLICT), one INSERT per row, a commit per page. Prints one JSON line of figures.
usage: archive_playback.py BASE_URL ACCOUNT PASSWORD DSN FROM TO [MAX_DEVICES]
"""
import hashlib
import json
import sys
import time

import psycopg2
import requests


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def main():
    base, account, password, dsn = sys.argv[1:5]
    t_from, t_to = int(sys.argv[5]), int(sys.argv[6])
    max_devices = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    s = requests.Session()
    nreq = 0

    def get(path, **params):
        nonlocal nreq
        nreq += 1
        r = s.get(base + "/api/" + path, params=params, timeout=30)
        r.raise_for_status()
        body = r.json()
        if body.get("code") not in (0, 20023):
            raise RuntimeError("%s: code %s" % (path, body.get("code")))
        return body

    start = time.time()
    now = int(time.time())
    tok = get("authorization", time=now, account=account,
              signature=md5(md5(password) + str(now)))["record"]["access_token"]

    # every account of the tree, then every device of each
    accounts, queue = [account], [account]
    while queue:
        acc = queue.pop(0)
        for u in get("user/list", access_token=tok, account=acc).get("record") or []:
            if u["account"] not in accounts:
                accounts.append(u["account"])
                queue.append(u["account"])
    imeis = []
    for acc in accounts:
        for d in get("device/list", access_token=tok, account=acc).get("record") or []:
            imeis.append(d["imei"])
    imeis.sort()
    if max_devices:
        imeis = imeis[:max_devices]

    db = psycopg2.connect(dsn)
    cur = db.cursor()
    points = 0
    for imei in imeis:
        begin = t_from
        while True:
            body = get("playback", access_token=tok, imei=imei, begintime=begin, endtime=t_to - 1)
            rec = body.get("record") or ""
            rows = [r.split(",") for r in rec.split(";") if r]
            for lon, lat, gps, speed, course in rows:
                cur.execute(
                    "INSERT INTO fleetarc.positions (imei, gpstime, longitude, latitude, speed, course)"
                    " VALUES (%s, to_timestamp(%s), %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (imei, int(gps), float(lon), float(lat), int(speed), int(course)))
                points += cur.rowcount
            db.commit()
            if len(rows) < 1000:
                break
            last = int(rows[-1][2])
            if last == begin:  # a full page of one second: step past it (or loop forever)
                last += 1
            begin = last
    secs = time.time() - start
    print(json.dumps({"devices": len(imeis), "points": points, "requests": nreq,
                      "seconds": round(secs, 3)}))


if __name__ == "__main__":
    main()
