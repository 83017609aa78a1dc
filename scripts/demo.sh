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

stage_summary() {
    say "what ClickHouse holds (deduplicated, per trunk and Paris month)"
    "$BIN/cdr" summary
    say "ClickHouse keeps running at $(clickhouse_url): scripts/clickhouse.sh client to query it, scripts/clickhouse.sh stop to stop it"
}

stage_setup
stage_provisioning
stage_schema
stage_calls
stage_summary
