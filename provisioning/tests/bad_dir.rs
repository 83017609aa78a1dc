//! The fixture `tests/fixtures/bad/` has one deliberate mistake per check; loading
//! it must report every one of them, each at its file, line and key path.

use provisioning::{ErrorKind, Provisioning, ProvisioningError, ProvisioningErrors};

use crate::util::{bad_dir, listing};

/// One expected error: file, line, key path (entry and field) and a key phrase of
/// the message.
struct Expected {
    file: &'static str,
    line: usize,
    key_path: &'static str,
    phrase: &'static str,
    kind: ErrorKind,
}

const fn expect(
    file: &'static str,
    line: usize,
    key_path: &'static str,
    phrase: &'static str,
    kind: ErrorKind,
) -> Expected {
    Expected {
        file,
        line,
        key_path,
        phrase,
        kind,
    }
}

use ErrorKind::{Conflict, InvalidValue, UnknownField, UnknownReference};

const EXPECTED: &[Expected] = &[
    expect(
        "customers.toml",
        7,
        "customer \"acme\": category",
        "\"callcenter\" is not a customer category (expected one of: business, operator",
        InvalidValue,
    ),
    expect(
        "customers.toml",
        15,
        "customer \"martin\": currency",
        "\"eur\" is not an ISO 4217 currency code (expected three uppercase letters",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        10,
        "trunk \"acme-paris\": channels[1].from",
        "\"2026-13-01\" is not a date (expected YYYY-MM-DD)",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        12,
        "trunk \"acme-paris\"",
        "unknown field \"chanels\" (expected one of: id, customer, plan, international_destinations, channels,",
        UnknownField,
    ),
    expect(
        "trunks.toml",
        25,
        "trunk \"acme-paris\": site[0].insee_code",
        "\"7505\" is not an INSEE commune code",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        29,
        "trunk \"martin-nantes\": customer",
        "unknown customer \"martinn\"",
        UnknownReference,
    ),
    expect(
        "trunks.toml",
        31,
        "trunk \"martin-nantes\": international_destinations",
        "only allowed with plan \"fixed_mobile_intl\"",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        35,
        "trunk \"martin-nantes\": identify.digest_username",
        "is set without digest_password",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        46,
        "trunk \"martin-nantes\": site[0].channels",
        "3 is outside 1..=2",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        49,
        "trunk #3: id",
        "duplicate trunk id \"acme-paris\" (first defined at line 4)",
        Conflict,
    ),
    expect(
        "trunks.toml",
        54,
        "trunk #3: channels[1].from",
        "2025-01-01 is not after the previous change's date 2026-01-01",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        54,
        "trunk #3: channels[1].channels",
        "-3 is out of range (expected 0..=100000",
        InvalidValue,
    ),
    expect(
        "trunks.toml",
        58,
        "trunk #3: identify.source_addresses[0]",
        "192.0.2.8 overlaps 192.0.2.0/28 of trunk \"acme-paris\" (line 15)",
        Conflict,
    ),
    expect(
        "trunks.toml",
        72,
        "trunk #3: suspension[0].to",
        "2026-09-10 is not after from 2026-09-20",
        InvalidValue,
    ),
    expect(
        "tariffs/standard.csv",
        3,
        "price_per_minute",
        "\"0,025\" is not a decimal (use a dot: 0.025)",
        InvalidValue,
    ),
    expect(
        "tariffs/standard.csv",
        4,
        "increments",
        "\"60/0\" has a zero increment",
        InvalidValue,
    ),
    expect(
        "tariffs/standard.csv",
        6,
        "effective_from",
        "prefix \"+32\" (from 2026-10-01, open-ended) overlaps tariffs/standard.csv:5 (from 2024-01-01 to 2026-12-31)",
        Conflict,
    ),
];

fn load_bad() -> ProvisioningErrors {
    match Provisioning::load(&bad_dir()) {
        Ok(_) => panic!("the bad fixture loaded without errors"),
        Err(errors) => errors,
    }
}

fn matches(error: &ProvisioningError, expected: &Expected) -> bool {
    error.file().to_str() == Some(expected.file)
        && error.line() == Some(expected.line)
        && error.key_path() == expected.key_path
        && error.message().contains(expected.phrase)
        && error.kind() == expected.kind
}

#[test]
fn every_mistake_is_reported_with_file_line_and_key_path() {
    let errors = load_bad();
    let mut missing = Vec::new();
    for expected in EXPECTED {
        if !errors.iter().any(|e| matches(e, expected)) {
            missing.push(format!(
                "{}:{}: {}: ...{}...",
                expected.file, expected.line, expected.key_path, expected.phrase
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "not reported:\n{}\n{}",
        missing.join("\n"),
        listing(&errors)
    );
    assert_eq!(errors.len(), EXPECTED.len(), "{}", listing(&errors));
}

#[test]
fn errors_are_displayed_one_per_line_in_file_and_line_order() {
    let errors = load_bad();
    let text = errors.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), EXPECTED.len());
    assert_eq!(
        lines[0],
        "customers.toml:7: customer \"acme\": category: \"callcenter\" is not a customer category (expected one of: business, operator, call_shop, telemarketing, call_centre, prepaid_cards, voice_services)"
    );
    let order: Vec<(String, Option<usize>)> = errors
        .iter()
        .map(|e| (e.file().display().to_string(), e.line()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert!(text.contains(
        "\ntrunks.toml:10: trunk \"acme-paris\": channels[1].from: \"2026-13-01\" is not a date (expected YYYY-MM-DD)\n"
    ));
}
