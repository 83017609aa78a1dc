#!/usr/bin/env bash
# Operates the project's private ClickHouse servers on loopback.
#   scripts/clickhouse.sh start|stop|status|url|client [ARGS]
# FAIRTRUNK_CLICKHOUSE_INSTANCE=clickhouse-test selects the test suite's server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-status}" in
    start) clickhouse_start; clickhouse_url; echo ;;
    stop) clickhouse_stop ;;
    status) if clickhouse_ping; then echo "running at $(clickhouse_url)"; else echo "not running"; exit 1; fi ;;
    url) clickhouse_url; echo ;;
    client) shift; exec clickhouse-client --port "$FAIRTRUNK_CLICKHOUSE_TCP_PORT" --database fairtrunk "$@" ;;
    *) die "usage: $0 start|stop|status|url|client [ARGS]" ;;
esac
