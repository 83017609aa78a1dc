# Shared setup for scripts/demo.sh and scripts/test.sh: package installation and a
# private ClickHouse server on loopback. Sourced, not run. Every step is idempotent.

FAIRTRUNK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FAIRTRUNK_VAR="${FAIRTRUNK_VAR:-$FAIRTRUNK_ROOT/var}"
# Which private server: `clickhouse` (the demo's, ports 18123/19000) or
# `clickhouse-test` (the test suite's, ports 18124/19001). Ports no standard service
# holds (ClickHouse's defaults are 8123/9000).
FAIRTRUNK_CLICKHOUSE_INSTANCE="${FAIRTRUNK_CLICKHOUSE_INSTANCE:-clickhouse}"
if [ "$FAIRTRUNK_CLICKHOUSE_INSTANCE" = clickhouse-test ]; then
    FAIRTRUNK_CLICKHOUSE_HTTP_PORT="${FAIRTRUNK_CLICKHOUSE_HTTP_PORT:-18124}"
    FAIRTRUNK_CLICKHOUSE_TCP_PORT="${FAIRTRUNK_CLICKHOUSE_TCP_PORT:-19001}"
else
    FAIRTRUNK_CLICKHOUSE_HTTP_PORT="${FAIRTRUNK_CLICKHOUSE_HTTP_PORT:-18123}"
    FAIRTRUNK_CLICKHOUSE_TCP_PORT="${FAIRTRUNK_CLICKHOUSE_TCP_PORT:-19000}"
fi
# Set to 1 by clickhouse_start when it started the server (not when it reused one).
FAIRTRUNK_CLICKHOUSE_STARTED=0

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "'$*' needs root and sudo is not installed; run it as root once"
    fi
}

# ensure_packages PROGRAM:PACKAGE... installs the Debian packages whose programs are missing.
ensure_packages() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} by hand"
    as_root apt-get update -qq || die "apt-get update failed (is the Debian mirror reachable?)"
    # policy-rc.d-less machines would start the packaged system-wide server: we never use it.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || die "${pair#*:} is installed but ${pair%%:*} is still missing"
    done
}

clickhouse_url() { printf 'http://127.0.0.1:%s' "$FAIRTRUNK_CLICKHOUSE_HTTP_PORT"; }

clickhouse_ping() { curl -fsS --max-time 2 "$(clickhouse_url)/ping" >/dev/null 2>&1; }

# clickhouse_start starts (or reuses) the private server whose data lives in
# var/$FAIRTRUNK_CLICKHOUSE_INSTANCE.
clickhouse_start() {
    ensure_packages clickhouse-server:clickhouse-server clickhouse-client:clickhouse-client curl:curl
    local dir="$FAIRTRUNK_VAR/$FAIRTRUNK_CLICKHOUSE_INSTANCE" pidfile="$FAIRTRUNK_VAR/$FAIRTRUNK_CLICKHOUSE_INSTANCE/server.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        if clickhouse_ping; then say "reusing ClickHouse (pid $(cat "$pidfile")) at $(clickhouse_url)"; return 0; fi
        say "ClickHouse pid $(cat "$pidfile") does not answer: restarting it"
        clickhouse_stop
    fi
    if clickhouse_ping; then
        die "port $FAIRTRUNK_CLICKHOUSE_HTTP_PORT answers but is not our server: stop it or set FAIRTRUNK_CLICKHOUSE_HTTP_PORT"
    fi
    mkdir -p "$dir/etc" "$dir/log" "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
    sed -e "s|@DIR@|$dir|g" -e "s|@HTTP_PORT@|$FAIRTRUNK_CLICKHOUSE_HTTP_PORT|g" \
        -e "s|@TCP_PORT@|$FAIRTRUNK_CLICKHOUSE_TCP_PORT|g" \
        "$FAIRTRUNK_ROOT/scripts/clickhouse/config.xml" > "$dir/etc/config.xml"
    cp "$FAIRTRUNK_ROOT/scripts/clickhouse/users.xml" "$dir/etc/users.xml"
    say "starting ClickHouse at $(clickhouse_url), data in $dir"
    nohup clickhouse-server --config-file="$dir/etc/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! > "$pidfile"
    local i
    for i in $(seq 1 300); do
        if clickhouse_ping; then FAIRTRUNK_CLICKHOUSE_STARTED=1; return 0; fi
        kill -0 "$(cat "$pidfile")" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log" 2>/dev/null >&2
    die "ClickHouse did not start (logs above, in $dir/log)"
}

# clickhouse_stop stops the server this project started, by its pid, and nothing else.
clickhouse_stop() {
    local pidfile="$FAIRTRUNK_VAR/$FAIRTRUNK_CLICKHOUSE_INSTANCE/server.pid" pid i
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping ClickHouse (pid $pid)"
        kill "$pid"
        for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
}
