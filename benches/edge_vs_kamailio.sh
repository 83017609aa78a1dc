#!/usr/bin/env bash
# Side-by-side benchmark of the fairtrunk SIP edge and Kamailio (Debian's 5.6) as
# dialog-stateful proxies with a per-trunk channel limit and accounting, on this
# machine, with the same SIPp scenario: UAC -> proxy -> SIPp UAS, short calls.
#
# For each proxy it reports:
# - the highest call rate sustained for DURATION seconds (default 30) with under 0.1 %
#   failed calls, finished at most 20 % late (a proxy that completes every call but
#   falls behind the rate did not sustain it), climbing the RATES ladder until a rate
#   fails twice in a row; the two proxies run side by side and alternate at each
#   rate, so that background load on a shared machine hits both alike (the load
#   average is printed with each step);
# - the response times SIPp measures at that rate (INVITE -> 100, 180, 200; p50 and
#   p99, in ms, SIPp's resolution);
# - the memory (PSS, all processes of the proxy) idle and with HELD concurrent held
#   calls (default 10,000), and per call.
# and prints the ratio of the sustained rates (edge / Kamailio).
#
# Usage: benches/edge_vs_kamailio.sh            (about 10-20 minutes)
#        DURATION=5 RATES="200 400" HELD=1000 benches/edge_vs_kamailio.sh   (smoke run)
#        TRANSPORT=tls benches/edge_vs_kamailio.sh  (callers' leg over TLS)
# With TRANSPORT=tls the caller's leg is SIP over TLS to each proxy's port 5061 (the
# edge's TLS listener, Kamailio's tls module) with certificates made here by openssl;
# Debian's SIPp has no TLS, so it speaks TCP to a local stunnel that opens the TLS
# connection from the PBX address (one connection, as a PBX or an SBC keeps). The
# stunnel hop is the same for both proxies; the carrier leg stays UDP.
# Installs sip-tester and kamailio if missing, starts the demo's private ClickHouse
# (the edge writes its call records there, database fairtrunk_bench), builds the edge
# in release mode. Loopback only: edge 127.0.100.1, Kamailio 127.0.101.1, their PBX
# .21 and carrier .3 on the same /24. The result is also written to
# benches/edge_vs_kamailio/results/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$FAIRTRUNK_ROOT"

DURATION="${DURATION:-30}"
RATES="${RATES:-250 500 750 1000 1250 1500 2000 2500 3000 3500 4000}"
HOLD_MS="${HOLD_MS:-500}"
HELD="${HELD:-10000}"
TRANSPORT="${TRANSPORT:-udp}"
case "$TRANSPORT" in udp | tls) ;; *) die "TRANSPORT must be udp or tls, not $TRANSPORT" ;; esac
HERE="$FAIRTRUNK_ROOT/benches/edge_vs_kamailio"
WORK="$FAIRTRUNK_VAR/bench-edge-vs-kamailio"
mkdir -p "$WORK" "$HERE/results"

ensure_packages sipp:sip-tester kamailio:kamailio python3:python3
KAMAILIO_TLS_MODULE=/usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so
if [ "$TRANSPORT" = tls ]; then
    ensure_packages stunnel4:stunnel4 openssl:openssl
    if [ ! -e "$KAMAILIO_TLS_MODULE" ]; then
        say "installing Debian packages: kamailio-tls-modules"
        as_root apt-get update -qq || die "apt-get update failed"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            kamailio-tls-modules >/dev/null || die "apt-get install kamailio-tls-modules failed"
    fi
fi
if ss -uln | grep -qE ' 127\.0\.10[01]\.[0-9]+:'; then
    ss -ulpn | grep -E ' 127\.0\.10[01]\.' >&2
    die "the benchmark's addresses (127.0.100.0/24, 127.0.101.0/24) are in use: stop what holds them"
fi
clickhouse_start
say "building the edge (release)"
cargo build --quiet --release -p sip-edge -p cdr --bins
BIN="$FAIRTRUNK_ROOT/target/release"
"$BIN/cdr" --clickhouse "$(clickhouse_url)" --database fairtrunk_bench migrate >/dev/null

PROXY_PID=""
UAS_PID=""
STUNNEL_PIDS=""
: > "$WORK/steps.txt"
cleanup() {
    [ -n "$UAS_PID" ] && kill "$UAS_PID" 2>/dev/null || true
    [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null || true
    for pid in $STUNNEL_PIDS; do kill "$pid" 2>/dev/null || true; done
    # Only our own processes (a ClickHouse started by clickhouse_start is a child too).
    # shellcheck disable=SC2086 # a list of pids
    wait $UAS_PID $PROXY_PID $STUNNEL_PIDS 2>/dev/null || true
    # The private ClickHouse is stopped if this run started it (by its pid file).
    if [ "$FAIRTRUNK_CLICKHOUSE_STARTED" = 1 ]; then clickhouse_stop; fi
}

# make_certs: a CA and the certificates of edge.bench and kamailio.bench in $WORK/tls.
make_certs() {
    local d="$WORK/tls" name
    rm -rf "$d" && mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=fairtrunk bench CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    for name in edge kamailio; do
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj "/CN=$name.bench" -keyout "$d/$name.key" -out "$d/$name.csr" 2>/dev/null
        printf 'subjectAltName=DNS:%s.bench\nextendedKeyUsage=serverAuth,clientAuth\n' "$name" > "$d/$name.ext"
        openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/$name.ext" -out "$d/$name.crt" 2>/dev/null
    done
}

# start_stunnel NET NAME: TCP on 127.0.NET.21:5062 -> TLS from 127.0.NET.21 to the
# proxy's 127.0.NET.1:5061, verifying NAME.bench.
start_stunnel() {
    local conf="$WORK/stunnel-$1.conf" i
    cat > "$conf" <<STUNNEL
foreground = yes
pid =
output = $WORK/stunnel-$1.log
[sip]
client = yes
accept = 127.0.$1.21:5062
connect = 127.0.$1.1:5061
local = 127.0.$1.21
CAfile = $WORK/tls/ca.pem
verifyChain = yes
checkHost = $2.bench
STUNNEL
    stunnel4 "$conf" &
    STUNNEL_PIDS="$STUNNEL_PIDS $!"
    for i in $(seq 1 100); do
        ss -tln | grep -q " 127.0.$1.21:5062 " && return 0
        sleep 0.1
    done
    die "stunnel did not listen on 127.0.$1.21:5062 (see $WORK/stunnel-$1.log)"
}

# uac_target NET: SIPp's transport option and the address it calls.
uac_target() {
    if [ "$TRANSPORT" = tls ]; then
        echo "-t t1 127.0.$1.21:5062"
    else
        echo "-t u1 127.0.$1.1:5060"
    fi
}
trap cleanup EXIT

# pids_of PID: PID and all its descendants.
pids_of() {
    local pid=$1 child
    echo "$pid"
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do pids_of "$child"; done
}

# pss_kib PID: proportional set size of PID and its descendants, in KiB.
pss_kib() {
    local total=0 pid v
    for pid in $(pids_of "$1"); do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

start_edge() {
    local dir="$WORK/edge"
    rm -rf "$dir" && mkdir -p "$dir/provisioning"
    cat > "$dir/provisioning/customers.toml" <<'EOF'
[[customer]]
id = "bench"
name = "Bench SAS"
category = "business"
currency = "EUR"
contract_start = 2024-01-01
EOF
    cat > "$dir/provisioning/trunks.toml" <<'EOF'
[[trunk]]
id = "bench-trunk"
customer = "bench"
plan = "fixed"
channels = [{ from = 2024-01-01, channels = 100000 }]
[trunk.identify]
source_addresses = ["127.0.100.21"]
[trunk.inbound]
target = "127.0.100.21:5070"
transport = "udp"
[[trunk.site]]
id = "main"
name = "Main"
address = "1 rue de la Paix, 75002 Paris"
insee_code = "75056"
EOF
    cat > "$dir/edge.toml" <<EOF
node_id = "edge-bench"
provisioning_dir = "provisioning"
spool_dir = "spool"
metrics_address = "127.0.100.1:9090"
drain_timeout_secs = 1
[[listen]]
transport = "udp"
address = "127.0.100.1:5060"
[[carrier]]
name = "bench-carrier"
address = "127.0.100.3:5060"
transport = "udp"
[clickhouse]
url = "$(clickhouse_url)"
database = "fairtrunk_bench"
EOF
    if [ "$TRANSPORT" = tls ]; then
        cat >> "$dir/edge.toml" <<EOF
[[listen]]
transport = "tls"
address = "127.0.100.1:5061"
advertise = "edge.bench"
[tls]
certificate = "$WORK/tls/edge.crt"
private_key = "$WORK/tls/edge.key"
trusted_roots = "$WORK/tls/ca.pem"
EOF
    fi
    RUST_LOG=warn "$BIN/sip-edge" --config "$dir/edge.toml" 2> "$dir/edge.log" &
    PROXY_PID=$!
}

start_kamailio() {
    local dir="$WORK/kamailio"
    rm -rf "$dir" && mkdir -p "$dir"
    sed -e 's/@PROXY@/127.0.101.1/g' -e 's/@PBX@/127.0.101.21/g' \
        -e 's/@CARRIER@/127.0.101.3/g' -e 's/@LIMIT@/100000/g' \
        -e "s|@TLSCFG@|$dir/tls.cfg|g" \
        "$HERE/kamailio.cfg" > "$dir/kamailio.cfg"
    local defines=()
    if [ "$TRANSPORT" = tls ]; then
        defines=(-A WITH_TLS)
        cat > "$dir/tls.cfg" <<EOF
[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = $WORK/tls/kamailio.crt
private_key = $WORK/tls/kamailio.key
ca_list = $WORK/tls/ca.pem
EOF
    fi
    kamailio -c "${defines[@]}" -f "$dir/kamailio.cfg" >/dev/null 2>&1 || die "kamailio.cfg does not check: kamailio -c ${defines[*]} -f $dir/kamailio.cfg"
    kamailio "${defines[@]}" -f "$dir/kamailio.cfg" -DD -E -m 1024 -M 32 -Y "$dir" 2> "$dir/kamailio.log" &
    PROXY_PID=$!
}

wait_bound() { # IP:PORT
    local i
    for i in $(seq 1 100); do
        ss -uln | grep -q " $1 " && return 0
        sleep 0.1
    done
    die "nothing listens on UDP $1"
}

wait_tls_bound() { # IP:PORT, only with TRANSPORT=tls
    [ "$TRANSPORT" = tls ] || return 0
    local i
    for i in $(seq 1 100); do
        ss -tln | grep -q " $1 " && return 0
        sleep 0.1
    done
    die "nothing listens on TCP $1"
}

stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
}

start_uas() { # NET
    (cd "$WORK" && exec sipp -sf "$HERE/uas.xml" -nostdin -i "127.0.$1.3" -p 5060 -mi "127.0.$1.3" \
        -max_recv_loops 10000 >/dev/null 2>&1) &
    UAS_PID=$!
    wait_bound "127.0.$1.3:5060"
}

stop_uas() {
    kill "$UAS_PID" 2>/dev/null || true
    wait "$UAS_PID" 2>/dev/null || true
    UAS_PID=""
}

# run_rate NET RATE: places RATE*DURATION calls at RATE/s; prints
# "ok|fail success failed retrans elapsed_s p50_100 p99_100 p50_180 p99_180 p50_200 p99_200"
run_rate() {
    local net=$1 rate=$2 dir="$WORK/run-$1-$2" calls
    calls=$((rate * DURATION))
    rm -rf "$dir" && mkdir -p "$dir"
    # shellcheck disable=SC2046 # uac_target is two options and an address
    (cd "$dir" && sipp -sf "$HERE/uac.xml" -nostdin -i "127.0.$net.21" -p 5060 -mi "127.0.$net.21" \
        -s 0612345678 -r "$rate" -m "$calls" -d "$HOLD_MS" -max_recv_loops 10000 -max_sched_loops 10000 \
        -timeout "$((DURATION * 3 + 30))s" -trace_stat -fd 1 -trace_rtt -rtt_freq 1000 -trace_err \
        $(uac_target "$net") >/dev/null 2>&1) || true
    python3 "$FAIRTRUNK_ROOT/benches/sipp_rate_summary.py" "$dir" "$calls" "$DURATION"
}

# step NAME NET RATE: one rate, retried once when it fails (a shared machine has
# bursts of background load); prints the line and returns 0 when the rate held.
step() {
    local name=$1 net=$2 rate=$3 result try
    for try in 1 2; do
        result=$(run_rate "$net" "$rate")
        printf '    %-9s %5s calls/s (try %s, load %s): %s\n' "$name" "$rate" "$try" \
            "$(cut -d' ' -f1 /proc/loadavg)" "$result" | tee -a "$WORK/steps.txt" >&2
        if [ "${result%% *}" = ok ]; then
            STEP_LINE=$result
            return 0
        fi
        sleep 2
    done
    return 1
}

# held NET: HELD concurrent held calls; prints "idle_kib held_kib"
held_memory() {
    local net=$1 dir="$WORK/held-$1" idle loaded i
    idle=$(pss_kib "$PROXY_PID")
    rm -rf "$dir" && mkdir -p "$dir"
    # shellcheck disable=SC2046 # uac_target is two options and an address
    (cd "$dir" && exec sipp -sf "$HERE/uac.xml" -nostdin -i "127.0.$net.21" -p 5060 -mi "127.0.$net.21" \
        -s 0612345678 -r 1000 -m "$HELD" -l "$HELD" -d 600000 -max_recv_loops 10000 \
        -trace_stat -fd 1 $(uac_target "$net") >/dev/null 2>&1) &
    local uac=$!
    for i in $(seq 1 $((HELD / 1000 * 10 + 100))); do
        if python3 - "$dir" "$HELD" <<'EOF'
import csv, glob, sys
f = [x for x in glob.glob(sys.argv[1] + "/*.csv")]
rows = list(csv.DictReader(open(f[0]), delimiter=";")) if f else []
sys.exit(0 if rows and int(rows[-1].get("CurrentCall", 0) or 0) >= int(sys.argv[2]) and int(rows[-1].get("SuccessfulCall(C)", 0) or 0) == 0 and int(rows[-1].get("FailedCall(C)", 0) or 0) == 0 else 1)
EOF
        then break; fi
        sleep 0.2
    done
    sleep 2
    loaded=$(pss_kib "$PROXY_PID")
    kill "$uac" 2>/dev/null || true
    wait "$uac" 2>/dev/null || true
    echo "$idle $loaded"
}

# Both proxies run side by side (idle while the other is measured) and the rate
# ladder alternates between them, so background load on the machine hits both alike.
say "rate ladder ($RATES calls/s, $DURATION s each, calls held $HOLD_MS ms, callers over $TRANSPORT), edge and Kamailio alternately"
if [ "$TRANSPORT" = tls ]; then
    make_certs
    start_stunnel 100 edge
    start_stunnel 101 kamailio
fi
start_uas 100
EDGE_UAS=$UAS_PID
start_uas 101
KAM_UAS=$UAS_PID
start_edge
EDGE_PID=$PROXY_PID
start_kamailio
KAM_PID=$PROXY_PID
PROXY_PID=""
wait_bound 127.0.100.1:5060
wait_bound 127.0.101.1:5060
wait_tls_bound 127.0.100.1:5061
wait_tls_bound 127.0.101.1:5061
edge_RATE=0 edge_LINE="" kamailio_RATE=0 kamailio_LINE=""
edge_alive=1 kamailio_alive=1
for rate in $RATES; do
    if [ "$edge_alive" = 1 ]; then
        if step edge 100 "$rate"; then edge_RATE=$rate edge_LINE=$STEP_LINE; else edge_alive=0; fi
    fi
    if [ "$kamailio_alive" = 1 ]; then
        if step kamailio 101 "$rate"; then kamailio_RATE=$rate kamailio_LINE=$STEP_LINE; else kamailio_alive=0; fi
    fi
    [ "$edge_alive" = 0 ] && [ "$kamailio_alive" = 0 ] && break
done
kill "$EDGE_PID" "$KAM_PID" "$EDGE_UAS" "$KAM_UAS" 2>/dev/null || true
wait "$EDGE_PID" "$KAM_PID" "$EDGE_UAS" "$KAM_UAS" 2>/dev/null || true

held() { # NAME NET START_FUNCTION
    say "$1: memory with $HELD held calls"
    start_uas "$2"
    "$3"
    wait_bound "127.0.$2.1:5060"
    wait_tls_bound "127.0.$2.1:5061"
    sleep 1
    eval "${1}_MEM=\"\$(held_memory $2)\""
    stop_proxy
    stop_uas
}
held edge 100 start_edge
held kamailio 101 start_kamailio

report() {
    python3 - "$edge_RATE" "$edge_LINE" "$edge_MEM" "$kamailio_RATE" "$kamailio_LINE" "$kamailio_MEM" "$HELD" "$DURATION" "$HOLD_MS" "$TRANSPORT" <<'EOF'
import sys
er, el, em, kr, kl, km, held, duration, hold, transport = sys.argv[1:11]
held = int(held)
def parse(line):
    p = line.split()
    return p[5:11] if len(p) >= 11 else ["-"] * 6
def mem(m):
    idle, loaded = (int(x) for x in m.split())
    return idle, loaded, (loaded - idle) * 1024 / held
leg = "UDP" if transport == "udp" else "TLS (SIPp over TCP through stunnel)"
print(f"SIP edge vs Kamailio 5.6, same machine, SIPp UAC -> proxy -> SIPp UAS, calls held {hold} ms,")
print(f"callers' leg over {leg}, carrier leg over UDP,")
print(f"rate sustained {duration} s (at most 20 % late) with < 0.1 % failed calls; response times in ms (SIPp resolution 1 ms)")
print()
print(f"{'':10} {'calls/s':>8} {'100 p50':>8} {'100 p99':>8} {'180 p50':>8} {'180 p99':>8} {'200 p50':>8} {'200 p99':>8} {'idle MiB':>9} {'held MiB':>9} {'B/call':>7}")
for name, rate, line, m in (("edge", er, el, em), ("kamailio", kr, kl, km)):
    idle, loaded, per_call = mem(m)
    t = parse(line)
    print(f"{name:10} {rate:>8} " + " ".join(f"{x:>8}" for x in t) + f" {idle/1024:9.1f} {loaded/1024:9.1f} {per_call:7.0f}")
print()
ratio = int(er) / int(kr) if int(kr) else float("inf")
print(f"ratio of sustained call rates (edge / kamailio): {ratio:.2f}")
EOF
}
SUFFIX=""
[ "$TRANSPORT" = tls ] && SUFFIX="-tls"
RESULT="$HERE/results/$(date +%Y-%m-%d)-$(hostname -s 2>/dev/null || echo host)$SUFFIX.txt"
{
    report
    echo
    echo "steps: ok|fail, successful, failed, retransmissions, elapsed s, then p50 p99 of"
    echo "INVITE->100, ->180, ->200 in ms (load = 1-minute load average of the machine):"
    cat "$WORK/steps.txt"
} | tee "$RESULT"
say "written to $RESULT"
