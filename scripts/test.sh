#!/usr/bin/env bash
# Runs the whole fairtrunk test suite: formatting and lint checks, unit tests,
# integration tests against a real ClickHouse, end-to-end tests and doc tests.
# Installs what is missing (Debian packages), starts a private ClickHouse on loopback
# (var/clickhouse-test, port 18124) unless one is already running, and stops it at the
# end if it started it. Safe to run again at any time.
set -euo pipefail
export FAIRTRUNK_CLICKHOUSE_INSTANCE=clickhouse-test
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FAIRTRUNK_ROOT"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (rustup)"
ensure_packages sipp:sip-tester  # SIP peers of the sip-edge tests
ensure_packages svmap:sipvicious  # the scanners of the sip-edge defence tests
ensure_packages chromium:chromium  # renders rating's report.html in a test
clickhouse_start
cleanup() { [ "$FAIRTRUNK_CLICKHOUSE_STARTED" = 1 ] && clickhouse_stop; true; }
trap cleanup EXIT
export FAIRTRUNK_TEST_CLICKHOUSE_URL="$(clickhouse_url)"

say "cargo fmt --check"
cargo fmt --all -- --check || die "formatting differs: run cargo fmt --all"
say "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
    say "cargo nextest run (unit, integration and end-to-end tests)"
    cargo nextest run --workspace --lib --bins --tests --no-fail-fast
else
    say "cargo-nextest not installed: using cargo test"
    cargo test --workspace --lib --bins --tests --no-fail-fast
fi
say "doc tests"
cargo test --workspace --doc --quiet
say "all tests passed"
