//! Test support: small provisioning directories written to a temporary folder, and
//! call builders.

use std::path::Path;

use cdr::{Direction, Disposition};
use chrono::DateTime;
use provisioning::Provisioning;

use crate::engine::RatingCall;
use crate::settings::RatingSettings;

/// A business customer and a call centre.
pub(crate) const CUSTOMERS: &str = r#"
[[customer]]
id = "acme"
name = "ACME"
category = "business"
currency = "EUR"
contract_start = 2024-01-01

[[customer]]
id = "callco"
name = "Call Co"
category = "call_centre"
currency = "EUR"
contract_start = 2024-01-01
"#;

/// A trunk entry with the given id, customer, plan and channels line.
pub(crate) fn trunk(id: &str, customer: &str, plan: &str, channels: &str, extra: &str) -> String {
    let intl = if plan == "fixed_mobile_intl" {
        "international_destinations = [\"+32\"]\n"
    } else {
        ""
    };
    format!(
        r#"
[[trunk]]
id = "{id}"
customer = "{customer}"
plan = "{plan}"
{intl}channels = {channels}
{extra}
[trunk.identify]
digest_username = "{id}"
digest_password = "pw"

[trunk.inbound]
target = "192.0.2.1:5060"
transport = "udp"

[[trunk.site]]
id = "main"
name = "Main"
address = "1 rue de Paris, 75001 Paris"
insee_code = "75056"
"#
    )
}

/// Tariffs used by the unit tests.
pub(crate) const TARIFFS: &str =
    "prefix,label,class,price_per_minute,connect_fee,increments,effective_from,effective_to
+331,France fixe 01,fixed,0.012,,60/60,2024-01-01,
+339,France 09,fixed,0.012,,60/60,2024-01-01,
+336,France mobile,mobile,0.025,,60/60,2024-01-01,
+3389,Premium 089,premium,0.80,0.15,1/1,2024-01-01,
+32,Belgique,international,0.015,,60/60,2024-01-01,
+44,Royaume-Uni,international,0.03,,60/60,2024-01-01,2026-10-15
+44,Royaume-Uni,international,0.025,,60/60,2026-10-15,
";

/// A default plans.toml.
pub(crate) const PLANS: &str = r#"
[plans.fixed]
channel_price = "10"
[plans.fixed_mobile_intl]
channel_price = "20"
"#;

/// A provisioning directory with `trunks` (entries from [`trunk`]).
pub(crate) fn provisioning(trunks: &str) -> (tempfile::TempDir, Provisioning) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "customers.toml", CUSTOMERS);
    write(dir.path(), "trunks.toml", trunks);
    write(dir.path(), "tariffs/t.csv", TARIFFS);
    let p = Provisioning::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    (dir, p)
}

/// Settings from `extra` appended to [`PLANS`]-like plan sections.
pub(crate) fn settings(text: &str) -> RatingSettings {
    RatingSettings::parse(text, None).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn write(dir: &Path, relative: &str, text: &str) {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

/// Milliseconds of an RFC 3339 time.
pub(crate) fn ms(rfc3339: &str) -> u64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_millis() as u64
}

/// An answered outbound call on trunk `t1`.
pub(crate) fn call(key: &str, invite_ms: u64, callee: &str, billable_ms: u64) -> RatingCall {
    RatingCall {
        call_key: key.to_owned(),
        trunk_id: "t1".to_owned(),
        direction: Direction::Outbound,
        caller: "+33140000000".to_owned(),
        callee: callee.to_owned(),
        forwarding_party: String::new(),
        disposition: Disposition::Answered,
        emergency: false,
        invite_ms,
        billable_ms,
        teams_user: String::new(),
        teams_call_type: String::new(),
        teams_sbc_fqdn: String::new(),
    }
}
