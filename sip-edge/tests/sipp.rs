//! The edge against real SIP peers (SIPp) and a real ClickHouse.
//!
//! Each test builds a lab on its own loopback network `127.0.N.0/24` (N is the test's
//! number below), so tests run in parallel and peers are told apart exactly as in
//! production, by source address:
//!
//! | address            | role                                                   |
//! |--------------------|--------------------------------------------------------|
//! | 127.0.N.1:5060     | the edge (UDP and TCP), metrics on 127.0.N.1:9090      |
//! | 127.0.N.3:5060     | carrier A (SIPp UAS for outbound, UAC for inbound)     |
//! | 127.0.N.4:5060     | carrier B (failover)                                   |
//! | 127.0.N.21:5060    | the customer's PBX, site `hq` of trunk `acme-test`     |
//! | 127.0.N.21:5070    | the same PBX receiving inbound calls                   |
//! | 127.0.N.40         | a stranger                                             |
//!
//! Waits are on events (SIPp exiting, a metric reaching a value, ClickHouse holding
//! the expected rows), each bounded in time.

mod admin;
mod binary;
mod defence;
mod fraud;
mod lab;
mod peers;
mod raw;
mod scenarios;
mod secure;
