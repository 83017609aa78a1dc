//! End-to-end tests across the workspace's crates, against real servers
//! (ClickHouse from `scripts/test.sh`, or a private one started by `testkit`).
//! One binary, one module per area.

mod demo;
