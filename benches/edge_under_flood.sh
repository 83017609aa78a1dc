#!/usr/bin/env bash
# The SIP edge's legitimate call rate with and without a scanner flood, side by side
# in one run (goal: the flood costs less than 10 % of the sustained rate).
#
# Legitimate traffic: the same SIPp scenario as benches/edge_vs_kamailio.sh (trunk PBX
# -> edge -> carrier SIPp UAS, short calls). The flood (flood.py): two senders on
# other addresses enumerating extensions with REGISTERs at FLOOD_RATE packets/s each
# (default 5,000; sipvicious itself sends a few hundred), one with sipvicious'
# User-Agent (banned at its first packet), one with an ordinary one (banned by the
# rate limit after its burst); both go on for the whole step, so the edge keeps
# receiving their packets (once a sweep has put the banned addresses in the UDP
# socket's kernel filter, the kernel drops them and the edge reads none). Before the
# ladder, the flood runs alone for 10 s to measure what it costs the edge (CPU).
#
# The rate ladder climbs RATES (each held DURATION s, under 0.1 % failed calls, a
# failed rate retried once); at each rate the edge is measured clean, then flooded.
# On a shared machine a burst of background load can fail one rate: a side's ladder
# ends only after two failed rates in a row, and its figure is the highest rate held.
# Printed: the highest sustained rate of each, their ratio (flooded / clean), the
# response times, and the flood packets the edge dropped.
#
# Usage: benches/edge_under_flood.sh                        (about 5-10 minutes)
#        DURATION=5 RATES="500 1000" benches/edge_under_flood.sh   (smoke run)
# Loopback only: edge 127.0.103.1, PBX .21, carrier .3, flooders .66 and .67.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$FAIRTRUNK_ROOT"

DURATION="${DURATION:-20}"
RATES="${RATES:-500 1000 1500 2000 2500 3000 3500}"
HOLD_MS="${HOLD_MS:-500}"
FLOOD_RATE="${FLOOD_RATE:-5000}"
NET=103
HERE="$FAIRTRUNK_ROOT/benches/edge_under_flood"
UAC="$FAIRTRUNK_ROOT/benches/edge_vs_kamailio/uac.xml"
UAS="$FAIRTRUNK_ROOT/benches/edge_vs_kamailio/uas.xml"
WORK="$FAIRTRUNK_VAR/bench-edge-under-flood"
mkdir -p "$WORK" "$HERE/results"

ensure_packages sipp:sip-tester python3:python3
if ss -uln | grep -qE " 127\.0\.$NET\.[0-9]+:"; then
    ss -ulpn | grep -E " 127\.0\.$NET\." >&2
    die "the benchmark's addresses (127.0.$NET.0/24) are in use: stop what holds them"
fi
clickhouse_start
say "building the edge (release)"
cargo build --quiet --release -p sip-edge -p cdr --bins
BIN="$FAIRTRUNK_ROOT/target/release"
"$BIN/cdr" --clickhouse "$(clickhouse_url)" --database fairtrunk_bench migrate >/dev/null

EDGE_PID="" UAS_PID="" FLOOD_PIDS=""
cleanup() {
    for pid in $FLOOD_PIDS $UAS_PID $EDGE_PID; do kill "$pid" 2>/dev/null || true; done
    # shellcheck disable=SC2086 # a list of pids
    wait $FLOOD_PIDS $UAS_PID $EDGE_PID 2>/dev/null || true
    # The private ClickHouse is stopped if this run started it (by its pid file).
    if [ "$FAIRTRUNK_CLICKHOUSE_STARTED" = 1 ]; then clickhouse_stop; fi
}
trap cleanup EXIT

wait_bound() { # IP:PORT
    local i
    for i in $(seq 1 100); do
        ss -uln | grep -q " $1 " && return 0
        sleep 0.1
    done
    die "nothing listens on UDP $1"
}

metric() { # NAME: its value on the edge's metrics endpoint
    python3 - "$1" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.103.1:9090/metrics", timeout=5).read().decode()
print(next((l.split()[-1] for l in text.splitlines() if l.startswith(sys.argv[1] + " ")), "0"))
PY
}

start_edge() {
    local dir="$WORK/edge"
    rm -rf "$dir" && mkdir -p "$dir/provisioning"
    cat > "$dir/provisioning/customers.toml" <<'TOML'
[[customer]]
id = "bench"
name = "Bench SAS"
category = "business"
currency = "EUR"
contract_start = 2024-01-01
TOML
    cat > "$dir/provisioning/trunks.toml" <<TOML
[[trunk]]
id = "bench-trunk"
customer = "bench"
plan = "fixed"
channels = [{ from = 2024-01-01, channels = 100000 }]
[trunk.identify]
source_addresses = ["127.0.$NET.21"]
[trunk.inbound]
target = "127.0.$NET.21:5070"
transport = "udp"
[[trunk.site]]
id = "main"
name = "Main"
address = "1 rue de la Paix, 75002 Paris"
insee_code = "75056"
TOML
    cat > "$dir/edge.toml" <<TOML
node_id = "edge-bench-flood"
provisioning_dir = "provisioning"
spool_dir = "spool"
metrics_address = "127.0.$NET.1:9090"
drain_timeout_secs = 1
[[listen]]
transport = "udp"
address = "127.0.$NET.1:5060"
[[carrier]]
name = "bench-carrier"
address = "127.0.$NET.3:5060"
transport = "udp"
[guard]
ban_secs = 3600
[clickhouse]
url = "$(clickhouse_url)"
database = "fairtrunk_bench"
TOML
    RUST_LOG=warn "$BIN/sip-edge" --config "$dir/edge.toml" 2> "$dir/edge.log" &
    EDGE_PID=$!
}

start_flood() { # SECONDS (bounded; stopped earlier by stop_flood)
    local who agent
    FLOOD_PIDS=""
    for who in 66 67; do
        if [ "$who" = 66 ]; then agent="friendly-scanner"; else agent="Linphone/3.6"; fi
        python3 "$HERE/flood.py" "127.0.$NET.$who" "127.0.$NET.1:5060" "$FLOOD_RATE" "$1" "$agent" >/dev/null &
        FLOOD_PIDS="$FLOOD_PIDS $!"
    done
    sleep 1 # the flood is under way before the calls start
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

stop_flood() {
    local pid
    for pid in $FLOOD_PIDS; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    FLOOD_PIDS=""
}

# run_rate RATE: places RATE*DURATION calls at RATE/s; prints
# "ok|fail success failed retrans elapsed_s p50_100 p99_100 p50_180 p99_180 p50_200 p99_200"
run_rate() {
    local rate=$1 dir="$WORK/run-$1" calls
    calls=$((rate * DURATION))
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && sipp -sf "$UAC" -nostdin -i "127.0.$NET.21" -p 5060 -mi "127.0.$NET.21" \
        -s 0612345678 -r "$rate" -m "$calls" -d "$HOLD_MS" -max_recv_loops 10000 -max_sched_loops 10000 \
        -timeout "$((DURATION * 3 + 30))s" -trace_stat -fd 1 -trace_rtt -rtt_freq 1000 -trace_err \
        "127.0.$NET.1:5060" >/dev/null 2>&1) || true
    python3 "$FAIRTRUNK_ROOT/benches/sipp_rate_summary.py" "$dir" "$calls" "$DURATION"
}

# step NAME RATE: one rate, retried once when it fails; flooded when NAME is "flooded".
step() {
    local name=$1 rate=$2 result try dropped_before
    for try in 1 2; do
        dropped_before=$(metric sip_edge_banned_packets_total)
        [ "$name" = flooded ] && start_flood $((DURATION * 3 + 60))
        result=$(run_rate "$rate")
        [ "$name" = flooded ] && stop_flood
        printf '    %-8s %5s calls/s (try %s, load %s, flood packets read by the edge %s): %s\n' "$name" "$rate" "$try" \
            "$(cut -d' ' -f1 /proc/loadavg)" "$(( $(metric sip_edge_banned_packets_total) - dropped_before ))" \
            "$result" | tee -a "$WORK/steps.txt" >&2
        if [ "${result%% *}" = ok ]; then
            STEP_LINE=$result
            return 0
        fi
        sleep 2
    done
    return 1
}

: > "$WORK/steps.txt"
(cd "$WORK" && exec sipp -sf "$UAS" -nostdin -i "127.0.$NET.3" -p 5060 -mi "127.0.$NET.3" \
    -max_recv_loops 10000 >/dev/null 2>&1) &
UAS_PID=$!
wait_bound "127.0.$NET.3:5060"
start_edge
wait_bound "127.0.$NET.1:5060"
say "the flood alone for 10 s: what it costs the edge"
DROP0=$(metric sip_edge_banned_packets_total)
TICKS0=$(cpu_ticks "$EDGE_PID")
start_flood 10
for pid in $FLOOD_PIDS; do wait "$pid" 2>/dev/null || true; done
FLOOD_PIDS=""
TICKS1=$(cpu_ticks "$EDGE_PID")
DROP1=$(metric sip_edge_banned_packets_total)
HZ=$(getconf CLK_TCK)
FLOOD_ALONE="flood alone: 2 x $FLOOD_RATE packets/s for 10 s; the edge read $(( DROP1 - DROP0 )) of them (dropped unparsed; the kernel filter dropped the rest) and used $(( (TICKS1 - TICKS0) * 100 / HZ / 10 )) % of one core"
say "$FLOOD_ALONE"
say "rate ladder ($RATES calls/s, $DURATION s each, calls held $HOLD_MS ms), clean then under a flood of 2 x $FLOOD_RATE packets/s"
clean_RATE=0 clean_LINE="" flooded_RATE=0 flooded_LINE=""
clean_failed=0 flooded_failed=0 # failed rates in a row
for rate in $RATES; do
    for side in clean flooded; do
        eval "failed=\$${side}_failed"
        [ "$failed" -ge 2 ] && continue
        if step "$side" "$rate"; then
            eval "${side}_RATE=$rate ${side}_LINE=\"\$STEP_LINE\" ${side}_failed=0"
        else
            eval "${side}_failed=$((failed + 1))"
        fi
    done
    [ "$clean_failed" -ge 2 ] && [ "$flooded_failed" -ge 2 ] && break
done
BANS="scanner $(metric 'sip_edge_bans_total{reason="scanner"}'), rate $(metric 'sip_edge_bans_total{reason="rate"}')"
DROPPED=$(metric sip_edge_banned_packets_total)
PEAK_KIB=$(awk '/^VmHWM:/ {print $2}' "/proc/$EDGE_PID/status" 2>/dev/null || echo 0)

RESULT="$HERE/results/$(date +%Y-%m-%d)-$(hostname -s 2>/dev/null || echo host).txt"
{
    python3 - "$clean_RATE" "$clean_LINE" "$flooded_RATE" "$flooded_LINE" "$DURATION" "$HOLD_MS" "$FLOOD_RATE" <<'PY'
import sys
cr, cl, fr, fl, duration, hold, flood = sys.argv[1:8]
def parse(line):
    p = line.split()
    return p[5:11] if len(p) >= 11 else ["-"] * 6
print(f"SIP edge, legitimate calls (SIPp UAC -> edge -> SIPp UAS, held {hold} ms) with and without")
print(f"a scanner flood of 2 x {flood} REGISTER/s from two other addresses; rate sustained {duration} s")
print(f"(at most 20 % late) with < 0.1 % failed calls; response times in ms (SIPp resolution 1 ms)")
print()
print(f"{'':10} {'calls/s':>8} {'100 p50':>8} {'100 p99':>8} {'180 p50':>8} {'180 p99':>8} {'200 p50':>8} {'200 p99':>8}")
for name, rate, line in (("clean", cr, cl), ("flooded", fr, fl)):
    print(f"{name:10} {rate:>8} " + " ".join(f"{x:>8}" for x in parse(line)))
print()
ratio = int(fr) / int(cr) if int(cr) else float("nan")
print(f"ratio of sustained call rates (flooded / clean): {ratio:.2f} (goal: at least 0.90)")
PY
    echo "bans: $BANS; flood packets read and dropped unparsed by the edge: $DROPPED; edge peak RSS: $((PEAK_KIB / 1024)) MiB"
    echo "$FLOOD_ALONE"
    echo
    echo "steps: ok|fail, successful, failed, retransmissions, elapsed s, then p50 p99 of"
    echo "INVITE->100, ->180, ->200 in ms (load = 1-minute load average of the machine):"
    cat "$WORK/steps.txt"
} | tee "$RESULT"
say "written to $RESULT"
