"""Run inside a (meshed) client: send GET http://HOST:PORT/split every INTERVAL_MS for SECONDS over one keep-alive
connection and print one JSON list of [unix_time, status, served_by], so the host sees which version answered
(a traffic split) and how often a request failed (retries).

usage: python3 /opt/labkit/splitwatch.py HOST PORT SECONDS INTERVAL_MS"""
import http.client
import json
import sys
import time

host, port, seconds, interval = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]) / 1000
conn = http.client.HTTPConnection(host, port, timeout=5)
out = []
t_end = time.time() + seconds
nxt = time.time()
while time.time() < t_end:
    try:
        conn.request("GET", "/split")
        r = conn.getresponse()
        r.read()
        out.append([round(time.time(), 4), r.status, r.getheader("x-served-by", "-")])
    except (OSError, http.client.HTTPException) as exc:
        out.append([round(time.time(), 4), 0, type(exc).__name__])
        conn = http.client.HTTPConnection(host, port, timeout=5)
    nxt += interval
    time.sleep(max(0.0, nxt - time.time()))
print(json.dumps(out))
