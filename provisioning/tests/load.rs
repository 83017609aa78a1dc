//! Loading edge cases: missing files, syntax errors, files owned by other crates.

use provisioning::{ErrorKind, Provisioning};

use crate::util::{dir_with, listing};

const CUSTOMERS: &str = r#"
[[customer]]
id = "acme"
name = "ACME SAS"
category = "business"
currency = "EUR"
contract_start = 2023-04-01
"#;

const TRUNKS: &str = r#"
[[trunk]]
id = "acme-paris"
customer = "acme"
plan = "fixed"
channels = [{ from = 2024-01-01, channels = 10 }]

[trunk.identify]
source_addresses = ["192.0.2.10"]

[trunk.inbound]
target = "192.0.2.10:5060"
transport = "udp"

[[trunk.site]]
id = "paris"
name = "Paris"
address = "12 rue de la Paix, 75002 Paris"
insee_code = "75056"
"#;

#[test]
fn a_minimal_directory_loads_without_tariffs() {
    let dir = dir_with(&[("customers.toml", CUSTOMERS), ("trunks.toml", TRUNKS)]);
    let p = Provisioning::load(dir.path()).unwrap_or_else(|e| panic!("{}", listing(&e)));
    assert_eq!(p.customers().len(), 1);
    assert_eq!(p.trunks().len(), 1);
    assert!(p.tariffs().is_empty());
}

#[test]
fn a_missing_customers_file_is_reported() {
    let dir = dir_with(&[("trunks.toml", TRUNKS)]);
    let errors = Provisioning::load(dir.path()).unwrap_err();
    // Without customers.toml, customer references are not checked: one error only.
    assert_eq!(errors.len(), 1, "{}", listing(&errors));
    let error = &errors.errors()[0];
    assert_eq!(error.kind(), ErrorKind::Io);
    assert_eq!(error.file().to_str(), Some("customers.toml"));
    assert_eq!(error.line(), None);
    assert!(error.message().contains("file not found"), "{error}");
    assert!(errors
        .to_string()
        .starts_with("customers.toml: file not found in "));
}

#[test]
fn a_missing_directory_is_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let errors = Provisioning::load(&dir.path().join("nope")).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", listing(&errors));
    assert!(errors.errors()[0]
        .message()
        .starts_with("cannot read the provisioning directory"));
}

#[test]
fn a_toml_syntax_error_is_reported_at_its_line_and_the_rest_is_checked() {
    let broken = CUSTOMERS.replace("name = \"ACME SAS\"", "name = \"ACME SAS")
        + "\n[[customer]]\nid = \"Bad\"\n";
    let dir = dir_with(&[("customers.toml", &broken), ("trunks.toml", TRUNKS)]);
    let errors = Provisioning::load(dir.path()).unwrap_err();
    let syntax: Vec<_> = errors
        .iter()
        .filter(|e| e.kind() == ErrorKind::Syntax)
        .collect();
    assert!(!syntax.is_empty(), "{}", listing(&errors));
    for error in &syntax {
        assert_eq!(error.file().to_str(), Some("customers.toml"));
        assert_eq!(error.line(), Some(4), "{}", listing(&errors));
        assert!(error.message().starts_with("invalid TOML: "), "{error}");
    }
    // The entry after the syntax error is still checked.
    assert!(
        errors
            .iter()
            .any(|e| e.message().contains("\"Bad\" is not a valid id")),
        "{}",
        listing(&errors)
    );
}

#[test]
fn a_bare_invalid_toml_date_is_a_syntax_error_with_its_line() {
    let trunks = TRUNKS.replace("from = 2024-01-01", "from = 2026-13-01");
    let dir = dir_with(&[("customers.toml", CUSTOMERS), ("trunks.toml", &trunks)]);
    let errors = Provisioning::load(dir.path()).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.kind() == ErrorKind::Syntax && e.line() == Some(6)),
        "{}",
        listing(&errors)
    );
}

#[test]
fn files_owned_by_other_crates_are_not_interpreted() {
    let dir = dir_with(&[
        ("customers.toml", CUSTOMERS),
        ("trunks.toml", TRUNKS),
        ("plans.toml", "this is not { valid toml"),
        ("numbers/inventory.csv", "anything"),
        ("tariffs/README.md", "not a tariff"),
    ]);
    let p = Provisioning::load(dir.path()).unwrap_or_else(|e| panic!("{}", listing(&e)));
    assert!(p.tariffs().is_empty());
}

#[test]
fn tariff_overlaps_are_found_across_files() {
    let header =
        "prefix,label,class,price_per_minute,connect_fee,increments,effective_from,effective_to\n";
    let a = format!("{header}+32,Belgique,international,0.015,,60/60,2024-01-01,\n");
    let b = format!("{header}+33,France,fixed,0.01,,60/60,2024-01-01,\n+32,Belgique,international,0.014,,60/60,2026-01-01,\n");
    let dir = dir_with(&[
        ("customers.toml", CUSTOMERS),
        ("trunks.toml", TRUNKS),
        ("tariffs/a.csv", &a),
        ("tariffs/b.csv", &b),
    ]);
    let errors = Provisioning::load(dir.path()).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", listing(&errors));
    assert_eq!(
        errors.to_string(),
        "tariffs/b.csv:3: effective_from: prefix \"+32\" (from 2026-01-01, open-ended) overlaps tariffs/a.csv:2 (from 2024-01-01, open-ended); rows of one prefix must not be in force at the same time"
    );
}

#[test]
fn the_same_tls_name_on_two_trunks_is_reported() {
    let second = TRUNKS
        .replace("acme-paris", "acme-lyon")
        .replace("192.0.2.10", "192.0.2.20");
    let trunks = format!(
        "{}{}",
        TRUNKS.replace(
            "[trunk.identify]\n",
            "[trunk.identify]\ntls_fqdn = \"sbc.acme.fr\"\n"
        ),
        second.replace(
            "[trunk.identify]\n",
            "[trunk.identify]\ntls_fqdn = \"SBC.acme.fr\"\n"
        )
    );
    let dir = dir_with(&[("customers.toml", CUSTOMERS), ("trunks.toml", &trunks)]);
    let errors = Provisioning::load(dir.path()).unwrap_err();
    assert_eq!(errors.len(), 1, "{}", listing(&errors));
    let error = &errors.errors()[0];
    assert_eq!(error.key_path(), "trunk \"acme-lyon\": identify.tls_fqdn");
    assert!(error
        .message()
        .contains("TLS name \"sbc.acme.fr\" is already used by trunk \"acme-paris\""));
}

#[test]
fn damaged_sample_files_give_errors_not_panics() {
    let sample = crate::util::sample_dir();
    let dir = tempfile::tempdir().unwrap();
    crate::util::copy_dir(&sample, dir.path());
    let mut loads = 0;
    for file in ["customers.toml", "trunks.toml", "tariffs/standard.csv"] {
        let original = std::fs::read_to_string(sample.join(file)).unwrap();
        let lines: Vec<&str> = original.lines().collect();
        for i in 0..lines.len() {
            let without_line: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, l)| *l)
                .collect();
            let half = lines[i].chars().count() / 2;
            let cut_at = lines[i].char_indices().nth(half).map_or(0, |(at, _)| at);
            let cut = &lines[i][..cut_at];
            let with_cut_line: Vec<&str> = lines
                .iter()
                .enumerate()
                .map(|(j, l)| if j == i { cut } else { *l })
                .collect();
            for variant in [without_line.join("\n"), with_cut_line.join("\n")] {
                std::fs::write(dir.path().join(file), &variant).unwrap();
                // Either outcome is fine; a panic fails the test.
                let _ = Provisioning::load(dir.path());
                loads += 1;
            }
        }
        std::fs::write(dir.path().join(file), &original).unwrap();
    }
    assert!(loads > 400, "{loads}");
    assert!(Provisioning::load(dir.path()).is_ok());
}
