#!/usr/bin/env bash
# Runs fairtrunk end to end on the sample data (samples/provisioning):
# installs what is missing, starts a private ClickHouse on loopback (var/clickhouse,
# port 18123) or reuses it, migrates the schema, writes a month of demo call records
# through the no-loss writer and prints what ClickHouse holds. Safe to run again: the
# records keep their keys, so a second run stores nothing twice.
# Stages are functions so later parts of the system (SIP edge, import, rating) add
# their own stage here.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAIRTRUNK_ROOT"

PROVISIONING="${FAIRTRUNK_PROVISIONING:-samples/provisioning}"
MONTH="${FAIRTRUNK_DEMO_MONTH:-2026-10}"
BIN="$FAIRTRUNK_ROOT/target/debug"
DEMO_VAR="$FAIRTRUNK_VAR/demo"

stage_setup() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup)"
    clickhouse_start
    ensure_packages sipp:sip-tester  # SIP peers of the edge stage
    export FAIRTRUNK_CLICKHOUSE_URL="$(clickhouse_url)"
    say "building"
    cargo build --quiet -p cdr -p provisioning -p fairtrunk --bins
    mkdir -p "$DEMO_VAR"
}

stage_provisioning() {
    say "checking the provisioning in $PROVISIONING"
    "$BIN/provisioning" check "$PROVISIONING"
}

stage_schema() {
    say "migrating the ClickHouse schema"
    "$BIN/cdr" migrate
}

stage_calls() {
    say "writing the demo calls of $MONTH through the no-loss writer (spool: $DEMO_VAR/spool)"
    "$BIN/fairtrunk" demo-calls --provisioning "$PROVISIONING" --month "$MONTH" \
        | "$BIN/cdr" write --spool "$DEMO_VAR/spool" > "$DEMO_VAR/acks.txt"
    printf '    %s records acknowledged: %s delivered, %s spooled, %s set aside\n' \
        "$(wc -l < "$DEMO_VAR/acks.txt")" \
        "$(grep -c ' delivered$' "$DEMO_VAR/acks.txt" || true)" \
        "$(grep -c ' spooled$' "$DEMO_VAR/acks.txt" || true)" \
        "$(grep -c ' set_aside$' "$DEMO_VAR/acks.txt" || true)"
}

stage_edge() {
    local dir="$DEMO_VAR/edge" scenarios="$FAIRTRUNK_ROOT/sip-edge/tests/scenarios" edge_pid i
    say "SIP edge: starting it (samples/sip-edge/edge.toml) and placing calls through it with SIPp"
    cargo build --quiet -p sip-edge --bins
    mkdir -p "$dir"
    rm -f "$dir"/*.log
    "$BIN/sip-edge" --config samples/sip-edge/edge.toml 2> "$dir/edge.log" &
    edge_pid=$!
    for i in $(seq 1 100); do grep -q "SIP edge started" "$dir/edge.log" 2>/dev/null && break; sleep 0.1; done
    grep -q "SIP edge started" "$dir/edge.log" || { cat "$dir/edge.log" >&2; kill "$edge_pid" 2>/dev/null; die "the SIP edge did not start"; }
    sipp_run() { (cd "$dir" && sipp -nostdin -timeout 30s -timeout_error "$@" > /dev/null 2>&1); }
    # The carrier answers the outbound calls; the Paris PBX answers its inbound call.
    sipp_run -sf "$scenarios/uas_basic.xml" -i 127.0.0.2 -p 5060 -mi 127.0.0.2 -m 2 & local carrier=$!
    sipp_run -sf "$scenarios/uas_basic.xml" -i 127.0.0.21 -p 5060 -mi 127.0.0.21 -m 1 & local paris=$!
    sleep 0.5
    say "    4 simultaneous calls from boulangerie-martin-nantes (2 channels): 2 answered, 2 refused (503)"
    sipp_run -sf "$scenarios/uac_or_refused.xml" -i 127.0.0.11 -p 5062 -mi 127.0.0.11 -s 0612345678 \
        -key caller 0240000000 -m 4 -r 100 -l 4 -d 2000 127.0.0.1:5060 || say "    (some outbound calls failed: see $dir/edge.log)"
    say "    1 inbound call from the carrier to +33145233142 (number inventory: acme-multisite, Paris)"
    sipp_run -sf "$scenarios/uac_basic.xml" -i 127.0.0.2 -p 5064 -mi 127.0.0.2 -s 0145233142 \
        -key caller 0612345678 -m 1 -d 1000 127.0.0.1:5060 || say "    (the inbound call failed: see $dir/edge.log)"
    wait "$carrier" "$paris" || true
    say "    metrics (http://127.0.0.1:9460/metrics):"
    curl -fsS --max-time 2 http://127.0.0.1:9460/metrics | grep -E '^sip_edge_(active_calls|calls_total|refusals_total)' | grep -v ' 0$' | sed 's/^/      /' || true
    kill -TERM "$edge_pid"
    wait "$edge_pid" || die "the SIP edge did not stop cleanly (log: $dir/edge.log)"
    say "    the edge's latest records in ClickHouse"
    clickhouse-client --port "$FAIRTRUNK_CLICKHOUSE_TCP_PORT" --database fairtrunk --format PrettyCompactNoEscapes --query "
        SELECT formatDateTime(toDateTime(intDiv(invite_ms, 1000), 'Europe/Paris'), '%F %T') AS invite_paris,
               trunk_id, direction, caller, callee, disposition, final_status, billable_ms,
               channels_in_force, calls_in_progress
        FROM calls FINAL WHERE source_kind = 'edge' ORDER BY invite_ms DESC LIMIT 5"
}

stage_import() {
    say "importing the sample Teams Direct Routing log of October 2026 (rows matching edge calls enrich them; bad rows go to $DEMO_VAR/import)"
    cargo build --quiet -p cdr-import --bins
    # The sample has bad rows on purpose (unknown SBC, bad timestamp, letters in a number).
    "$BIN/cdr-import" --provisioning "$PROVISIONING" --spool "$DEMO_VAR/import-spool" \
        --reject-dir "$DEMO_VAR/import" --progress none --max-reject 25% \
        --format teams-json samples/import/teams-2026-10.json
    say "reconciling October 2026's Teams log with the edge's records (--apply: a Teams copy of an edge call is removed before rating)"
    "$BIN/cdr-import" --provisioning "$PROVISIONING" --spool "$DEMO_VAR/import-spool" \
        reconcile --month 2026-10 --samples 2 --apply || true
}

stage_summary() {
    say "what ClickHouse holds (deduplicated, per trunk and Paris month)"
    "$BIN/cdr" summary
    say "ClickHouse keeps running at $(clickhouse_url): scripts/clickhouse.sh client to query it, scripts/clickhouse.sh stop to stop it"
}

stage_rating() {
    say "rating $MONTH: fair-use counters and breaches, re-pricing, SLA credits, invoice lines"
    cargo build --quiet -p rating --bins
    # --force: the demo re-rates its month even if someone closed it (recorded as forced).
    "$BIN/rating" run --month "$MONTH" --provisioning "$PROVISIONING" --out "$DEMO_VAR/rating" --force
    say "    report: $DEMO_VAR/rating/report.html; explain a trunk: $BIN/rating explain --trunk acme-multisite --month $MONTH"
}

stage_setup
stage_provisioning
stage_schema
stage_calls
stage_edge
stage_import
stage_summary
stage_rating
