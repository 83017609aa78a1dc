//! Integration tests of the rating crate against a real ClickHouse (the suite's
//! server from `scripts/test.sh`, or a private one started by `testkit`). One
//! binary, one module per area.

mod scenarios;

mod runs;

mod report;
