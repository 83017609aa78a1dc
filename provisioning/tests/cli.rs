//! The `provisioning check` binary.

use std::process::{Command, Output};

use provisioning::Provisioning;

use crate::util::{bad_dir, sample_dir};

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .args(args)
        .output()
        .expect("the provisioning binary runs")
}

#[test]
fn check_accepts_the_sample_set() {
    let dir = sample_dir();
    let out = run(&["check".as_ref(), dir.as_os_str()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fingerprint = Provisioning::load(&dir).unwrap().fingerprint().to_owned();
    assert_eq!(
        stdout.trim_end(),
        format!("ok: 5 customers, 5 trunks, 71 tariff rows, fingerprint {fingerprint}")
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn check_lists_every_error_and_exits_1() {
    let dir = bad_dir();
    let out = run(&["check".as_ref(), dir.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(out.stdout.is_empty());
    for phrase in [
        "customers.toml:15: customer \"martin\": currency: \"eur\" is not an ISO 4217 currency code",
        "trunks.toml:12: trunk \"acme-paris\": unknown field \"chanels\"",
        "trunks.toml:58: trunk #3: identify.source_addresses[0]: 192.0.2.8 overlaps 192.0.2.0/28",
        "tariffs/standard.csv:3: price_per_minute: \"0,025\" is not a decimal (use a dot: 0.025)",
    ] {
        assert!(stderr.contains(phrase), "missing {phrase:?} in:\n{stderr}");
    }
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.ends_with(": 17 errors"), "{last}");
    assert_eq!(stderr.lines().count(), 18, "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["check".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
}
