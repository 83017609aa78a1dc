"""One line summing up a SIPp UAC run at a fixed call rate, for the shell benchmarks.

Usage: sipp_rate_summary.py DIR CALLS SECONDS, where DIR holds the run's
-trace_stat and -trace_rtt files and SECONDS is how long the rate was to be held.
Prints `ok|fail SUCCESSFUL FAILED RETRANSMISSIONS ELAPSED_S`, then p50 and p99 in ms
of each response-time partition (INVITE->100, ->180, ->200): `ok` when every call
succeeded, fewer than 0.1 % failed, and the run took at most 20 % (plus a second)
longer than planned: a proxy that completes every call but falls behind the rate
(calls queued for seconds) did not sustain it.
"""
import csv, glob, sys

d, calls, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
stat = [f for f in glob.glob(d + "/*.csv") if not f.endswith("_rtt.csv")]
rows = list(csv.DictReader(open(stat[0]), delimiter=";")) if stat else []
last = rows[-1] if rows else {}
def num(k):
    try: return int(float(last.get(k, "0") or 0))
    except ValueError: return 0
ok, failed, retrans = num("SuccessfulCall(C)"), num("FailedCall(C)"), num("Retransmissions(C)")
elapsed = last.get("ElapsedTime(C)", "0")
h, m, s = (elapsed.split(":") + ["0", "0", "0"])[:3]
elapsed_s = int(h) * 3600 + int(m) * 60 + float(s) if ":" in elapsed else 0.0
times = {1: [], 2: [], 3: []}
for f in glob.glob(d + "/*_rtt.csv"):
    for line in open(f).read().splitlines()[1:]:
        parts = line.split(";")
        if len(parts) == 3:
            times.setdefault(int(parts[2]), []).append(float(parts[1]))
def pct(v, p):
    if not v: return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]
good = ok == calls and failed * 1000 < calls and elapsed_s <= seconds * 1.2 + 1
print("ok" if good else "fail", ok, failed, retrans, round(elapsed_s, 1),
      *[pct(times[i], p) for i in (1, 2, 3) for p in (0.5, 0.99)])
