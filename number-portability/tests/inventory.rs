//! The number inventory: loading the files, the edge's lookups, the rules of every
//! change, the journal.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone, Utc};
use number_portability::arcep::ArcepData;
use number_portability::inventory::{
    Assignee, Change, Inventory, InventoryErrorKind, Journal, NumberBlock, NumberState,
};
use number_portability::E164;
use provisioning::Provisioning;

pub(crate) fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning")
}

use testkit::copy_dir;

/// A private copy of the sample provisioning directory.
pub(crate) fn sample_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&sample_dir(), dir.path());
    dir
}

pub(crate) fn n(s: &str) -> E164 {
    E164::parse(s).unwrap()
}

pub(crate) fn b(s: &str) -> NumberBlock {
    NumberBlock::parse(s).unwrap()
}

pub(crate) fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

pub(crate) fn on(date: NaiveDate) -> Change {
    Change::at(
        "tester",
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap(),
        date,
        "test",
    )
}

pub(crate) fn arcep() -> ArcepData {
    ArcepData::import_dir(&sample_dir().join("numbers/arcep"))
        .unwrap()
        .0
}

fn load(dir: &Path) -> (Provisioning, Inventory) {
    let p = Provisioning::load(dir).unwrap();
    let i = Inventory::load_with(dir, &p).unwrap_or_else(|e| panic!("{e}"));
    (p, i)
}

fn errors_of(dir: &Path) -> Vec<String> {
    Inventory::load(dir)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn sample_routes_dids_and_sda_blocks() {
    let inv = Inventory::load(&sample_dir()).unwrap_or_else(|e| panic!("{e}"));
    let route = |s: &str| inv.route(&n(s)).map(|r| (r.customer, r.trunk, r.site));
    assert_eq!(
        route("+33145233000"),
        Some(("acme", "acme-multisite", "paris-hq"))
    );
    // Every number of the SDA block of 100, and only them.
    for did in ["+33145233100", "+33145233142", "+33145233199"] {
        assert_eq!(
            route(did),
            Some(("acme", "acme-multisite", "paris-hq")),
            "{did}"
        );
    }
    assert_eq!(
        inv.route(&n("+33145233142")).unwrap().block,
        b("+33145233100..+33145233199")
    );
    assert_eq!(
        route("+33478990007"),
        Some(("acme", "acme-multisite", "lyon"))
    );
    assert_eq!(
        route("+262262620003"),
        Some(("hotel-lagon", "hotel-lagon-reunion", "saint-denis"))
    );
    assert_eq!(
        route("+33970990042"),
        Some(("telemarket-pro", "telemarket-pro-lille", "lille"))
    );
    // No route: quarantined, in stock, porting in, ported out, unknown.
    for none in [
        "+33145233200",
        "+33145233350",
        "+33145231042",
        "+33145233050",
        "+262262620015",
        "+33145239999",
        "+33612345678",
    ] {
        assert_eq!(route(none), None, "{none}");
    }
}

#[test]
fn sample_caller_numbers_belong_to_their_customer() {
    let inv = Inventory::load(&sample_dir()).unwrap();
    assert!(inv.belongs_to(&n("+33145233142"), "acme"));
    assert!(!inv.belongs_to(&n("+33145233142"), "contoso"));
    // Porting in: the customer already uses it at the donor.
    assert!(inv.belongs_to(&n("+33145231042"), "acme"));
    // Quarantined and ported out: no longer the customer's.
    assert!(!inv.belongs_to(&n("+33145233200"), "acme"));
    assert!(!inv.belongs_to(&n("+33145233050"), "acme"));
    assert!(!inv.belongs_to(&n("+33145233350"), "acme"));
    let h = inv.holder(&n("+33145231042")).unwrap();
    assert_eq!((h.customer, h.state), ("acme", NumberState::PortingIn));
    assert!(inv.holder(&n("+33145233200")).is_none());
    assert_eq!(
        inv.entry(&n("+33145233200")).unwrap().until,
        Some(d(2027, 1, 3))
    );
    assert_eq!(inv.settings().quarantine_days, 90);
    assert_eq!(inv.requests().len(), 3);
}

#[test]
fn no_numbers_folder_is_an_empty_inventory() {
    let dir = sample_copy();
    std::fs::remove_dir_all(dir.path().join("numbers")).unwrap();
    let (_, inv) = load(dir.path());
    assert!(inv.is_empty());
    assert!(inv.route(&n("+33145233000")).is_none());
}

#[test]
fn file_errors_are_all_reported_with_line_and_column() {
    let dir = sample_copy();
    std::fs::write(
        dir.path().join("numbers/inventory.csv"),
        "number,state,origin,customer,trunk,site,since,until,request\n\
         +33145233100..+33145233199,assigned,own,acme,acme-multisite,paris-hq,2024-01-15,,\n\
         +33145233142,assigned,own,acme,acme-multisite,paris-hq,2024-01-15,,\n\
         +33145233300,given,own,,,,2024-01-10,,\n\
         +33145233301,assigned,own,acmee,acme-multisite,paris-hq,2024-01-10,,\n\
         +262262620000,assigned,own,acme,acme-multisite,paris-hq,2024-01-10,,\n\
         +33145233400,assigned,own,hotel-lagon,hotel-lagon-reunion,,2024-01-10,,\n\
         +33145233500..+33145233549,available,own,,,,2024-01-10,,\n\
         +33145233600,quarantined,own,acme,,,2024-01-10,,\n\
         +33145233700,available,own,acme,,,2024-01-10,,\n\
         +33145233800,assigned,own,acme,acme-multisite,,2024-01-10,,\n\
         +33145233900,porting_out,own,acme,acme-multisite,paris-hq,2024-01-10,,PO-9999\n\
         +33145233910,assigned,own,acme,acme-multisite,paris-hq,13/01/2024,,\n\
         +3280012345,assigned,own,acme,acme-multisite,paris-hq,2024-01-10,,\n",
    )
    .unwrap();
    let errors = errors_of(dir.path());
    let expected = [
        "numbers/inventory.csv:3: number \"+33145233142\": number: inside block +33145233100..+33145233199 of line 2; a number is on one row only",
        "numbers/inventory.csv:4: number \"+33145233300\": state: unknown state \"given\"",
        "numbers/inventory.csv:5: number \"+33145233301\": customer: unknown customer \"acmee\"",
        "numbers/inventory.csv:6: number \"+262262620000\": site: a geographic number of Réunion (RE): it can only be used on a site in RE, and site \"paris-hq\" is in commune 75056 (metropolitan France)",
        "numbers/inventory.csv:7: number \"+33145233400\": site: a metropolitan geographic number cannot be used on site \"saint-denis\" in commune 97411 (RE)",
        "numbers/inventory.csv:8: number \"+33145233500..+33145233549\": number: \"+33145233500..+33145233549\" is not one number or an aligned block",
        "numbers/inventory.csv:9: number \"+33145233600\": until: required for a quarantined number (the end of the quarantine)",
        "numbers/inventory.csv:10: number \"+33145233700\": customer: must be empty for a available number",
        "numbers/inventory.csv:11: number \"+33145233800\": site: trunk \"acme-multisite\" has several sites (paris-hq, lyon): give the site",
        "numbers/inventory.csv:12: number \"+33145233900\": request: unknown port request \"PO-9999\"",
        "numbers/inventory.csv:13: number \"+33145233910\": since: \"13/01/2024\" is not a date (expected YYYY-MM-DD)",
        "numbers/inventory.csv:14: number \"+3280012345\": number: a number of BE",
    ];
    for phrase in expected {
        assert!(
            errors.iter().any(|e| e.starts_with(phrase)),
            "missing {phrase:?} in:\n{}",
            errors.join("\n")
        );
    }
    // The sample's porting-in number lost its row: the request says so too.
    assert!(
        errors.iter().any(|e| e.starts_with(
            "numbers/port_requests.csv:3: request \"PI-2026-0001\": numbers: +33145231042 is not porting_in"
        )),
        "{}",
        errors.join("\n")
    );
}

#[test]
fn request_and_settings_errors_have_lines_too() {
    let dir = sample_copy();
    std::fs::write(
        dir.path().join("numbers/settings.toml"),
        "quarantine_days = 200\n",
    )
    .unwrap();
    let mut text = std::fs::read_to_string(dir.path().join("numbers/port_requests.csv")).unwrap();
    text.push_str("PO-2026-0009,out,draft,acme,,,+33145233000,,SFR0,,,,,\n");
    text.push_str("PI-2026-0009,in,scheduled,acme,acme-multisite,paris-hq,+33145231042,,FRTE,,2026-11-16,,,\n");
    std::fs::write(dir.path().join("numbers/port_requests.csv"), text).unwrap();
    let errors = errors_of(dir.path());
    for phrase in [
        "numbers/settings.toml:1: quarantine_days: 200 is outside 45..=120 days",
        "numbers/port_requests.csv:5: request \"PO-2026-0009\": state: a port-out request arrives submitted",
        "numbers/port_requests.csv:6: request \"PI-2026-0009\": port_date: required for a scheduled request",
    ] {
        assert!(errors.iter().any(|e| e.starts_with(phrase)), "missing {phrase:?} in:\n{}", errors.join("\n"));
    }
}

#[test]
fn double_assignment_is_refused_and_changes_nothing() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let err = inv
        .assign(
            &p,
            None,
            &on(d(2026, 11, 22)),
            &[b("+33145233300"), b("+33145233142")],
            &Assignee::new("contoso", Some("contoso-teams"), None),
        )
        .unwrap_err();
    assert_eq!(err.errors().len(), 1, "{err}");
    assert_eq!(
        err.to_string(),
        "+33145233142: held by customer \"acme\" (assigned); a number belongs to one customer at a time, release it first"
    );
    // All or nothing: the free number was not assigned either.
    assert!(inv.route(&n("+33145233300")).is_none());
    assert!(inv.pending().is_empty());
    // Reserved for someone else: refused too.
    inv.reserve(
        &p,
        None,
        &on(d(2026, 11, 22)),
        &[b("+33145233301")],
        &Assignee::new("acme", None, None),
    )
    .unwrap();
    let err = inv
        .assign(
            &p,
            None,
            &on(d(2026, 11, 22)),
            &[b("+33145233301")],
            &Assignee::new("contoso", Some("contoso-teams"), None),
        )
        .unwrap_err();
    assert!(
        matches!(err.first_kind(), Some(InventoryErrorKind::HeldByOther { customer, .. }) if customer == "acme")
    );
    inv.assign(
        &p,
        None,
        &on(d(2026, 11, 22)),
        &[b("+33145233301")],
        &Assignee::new("acme", Some("acme-multisite"), Some("lyon")),
    )
    .unwrap();
    assert_eq!(inv.route(&n("+33145233301")).unwrap().site, "lyon");
}

#[test]
fn one_number_of_an_sda_block_can_be_released() {
    let dir = sample_copy();
    let (_, mut inv) = load(dir.path());
    let rows = inv.len();
    inv.release(&on(d(2026, 11, 22)), &[b("+33145233142")], Some("acme"))
        .unwrap();
    // The block of 100 became 9 blocks of 10 and 9 numbers around the released one.
    assert_eq!(inv.len(), rows - 1 + 18 + 1);
    assert!(inv.route(&n("+33145233142")).is_none());
    for still in [
        "+33145233100",
        "+33145233141",
        "+33145233143",
        "+33145233199",
    ] {
        assert_eq!(inv.route(&n(still)).unwrap().site, "paris-hq", "{still}");
    }
    assert_eq!(
        inv.route(&n("+33145233143")).unwrap().block,
        b("+33145233143")
    );
    assert_eq!(
        inv.route(&n("+33145233155")).unwrap().block,
        b("+33145233150..+33145233159")
    );
    // One journal row, for the number released.
    assert_eq!(inv.pending().len(), 1);
    assert_eq!(inv.pending()[0].subject, "+33145233142");
    assert_eq!(
        (inv.pending()[0].from.as_str(), inv.pending()[0].to.as_str()),
        ("assigned", "quarantined")
    );
    // Releasing another customer's number with a customer guard is refused.
    let err = inv
        .release(&on(d(2026, 11, 22)), &[b("+33240990000")], Some("acme"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("held by customer \"boulangerie-martin\""),
        "{err}"
    );
}

#[test]
fn pieces_alike_are_merged_back_into_the_block() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let rows = inv.len();
    let acme = Assignee::new("acme", Some("acme-multisite"), Some("paris-hq"));
    // Assign the stock block one number and then the rest as a range.
    inv.assign(&p, None, &on(d(2026, 11, 22)), &[b("+33145233342")], &acme)
        .unwrap();
    assert_eq!(inv.len(), rows + 18);
    let rest = NumberBlock::parse_range("+33145233300..+33145233399").unwrap();
    let err = inv
        .assign(&p, None, &on(d(2026, 11, 22)), &rest, &acme)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already assigned to customer \"acme\""),
        "{err}"
    );
    let mut others: Vec<NumberBlock> = b("+33145233300..+33145233399").without(&b("+33145233342"));
    others.sort();
    inv.assign(&p, None, &on(d(2026, 11, 22)), &others, &acme)
        .unwrap();
    assert!(inv.route(&n("+33145233399")).is_some());
}

#[test]
fn quarantine_is_respected() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let contoso = Assignee::new("contoso", Some("contoso-teams"), None);
    // Released on 2026-10-05, 90 days: another customer only from 2027-01-03.
    let err = inv
        .assign(&p, None, &on(d(2027, 1, 2)), &[b("+33145233200")], &contoso)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "+33145233200: quarantined after its release by \"acme\"; it can go to another customer from 2027-01-03"
    );
    let err = inv
        .give_back(&on(d(2027, 1, 2)), &[b("+33145233200")])
        .unwrap_err();
    assert!(matches!(
        err.first_kind(),
        Some(InventoryErrorKind::Quarantined { .. })
    ));
    // The former holder may take it back during the quarantine.
    let mut back = inv.clone();
    back.assign(
        &p,
        None,
        &on(d(2026, 12, 1)),
        &[b("+33145233200")],
        &Assignee::new("acme", Some("acme-multisite"), Some("paris-hq")),
    )
    .unwrap();
    inv.assign(&p, None, &on(d(2027, 1, 3)), &[b("+33145233200")], &contoso)
        .unwrap();
    assert_eq!(inv.route(&n("+33145233200")).unwrap().customer, "contoso");
}

#[test]
fn quarantine_length_is_the_setting() {
    let dir = sample_copy();
    let path = dir.path().join("numbers/settings.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("quarantine_days = 90", "quarantine_days = 45");
    std::fs::write(&path, text).unwrap();
    let (p, mut inv) = load(dir.path());
    inv.release(&on(d(2026, 11, 2)), &[b("+33240990001")], None)
        .unwrap();
    let e = inv.entry(&n("+33240990001")).unwrap();
    assert_eq!(
        (e.state, e.until),
        (NumberState::Quarantined, Some(d(2026, 12, 17)))
    );
    // Still portable out for 40 days after the release.
    assert_eq!(e.portable_until(), Some(d(2026, 12, 12)));
    let other = Assignee::new("acme", Some("acme-multisite"), Some("lyon"));
    assert!(inv
        .assign(&p, None, &on(d(2026, 12, 16)), &[b("+33240990001")], &other)
        .is_err());
    inv.assign(&p, None, &on(d(2026, 12, 17)), &[b("+33240990001")], &other)
        .unwrap();
}

#[test]
fn overseas_numbers_stay_in_their_territory() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let paris = Assignee::new("acme", Some("acme-multisite"), Some("paris-hq"));
    let err = inv
        .assign(
            &p,
            None,
            &on(d(2026, 11, 22)),
            &[b("+262262620010..+262262620019")],
            &paris,
        )
        .unwrap_err();
    assert!(
        matches!(err.first_kind(), Some(InventoryErrorKind::Territory(_))),
        "{err}"
    );
    assert!(
        err.to_string().contains("only be used on a site in RE"),
        "{err}"
    );
    let hotel = Assignee::new("hotel-lagon", Some("hotel-lagon-reunion"), None);
    let err = inv
        .assign(&p, None, &on(d(2026, 11, 22)), &[b("+33145233300")], &hotel)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("metropolitan geographic number cannot be used on site \"saint-denis\""),
        "{err}"
    );
    inv.assign(
        &p,
        Some(&arcep()),
        &on(d(2026, 11, 22)),
        &[b("+262262620010..+262262620019")],
        &hotel,
    )
    .unwrap();
    // Non-geographic 09 numbers go anywhere.
    inv.add(None, &on(d(2026, 11, 22)), &[b("+33970990100")])
        .unwrap();
    inv.assign(&p, None, &on(d(2026, 11, 22)), &[b("+33970990100")], &hotel)
        .unwrap();
}

/// Adds a second Réunion site (Saint-Pierre, INSEE 97416, outside the Saint-Denis
/// ZNE of the sample ARCEP data) to the hotel's trunk.
fn with_saint_pierre_site(dir: &Path) {
    let path = dir.join("trunks.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "insee_code = \"97411\"\n",
        "insee_code = \"97411\"\n\n[[trunk.site]]\nid = \"saint-pierre\"\nname = \"Annexe\"\naddress = \"1 rue des Bons Enfants, 97410 Saint-Pierre\"\ninsee_code = \"97416\"\n",
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn overseas_zne_is_always_checked_metropolitan_only_by_policy() {
    let dir = sample_copy();
    with_saint_pierre_site(dir.path());
    let (p, mut inv) = load(dir.path());
    let data = arcep();
    let annex = Assignee::new(
        "hotel-lagon",
        Some("hotel-lagon-reunion"),
        Some("saint-pierre"),
    );
    let err = inv
        .assign(
            &p,
            Some(&data),
            &on(d(2026, 11, 22)),
            &[b("+262262620010")],
            &annex,
        )
        .unwrap_err();
    assert!(
        matches!(err.first_kind(), Some(InventoryErrorKind::Zne(_))),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "site \"saint-pierre\" (commune 97416) is outside ZNE 97411 Saint-Denis of ZABPQ 26262"
        ),
        "{err}"
    );
    // Without ZNE data only the territory can be checked.
    inv.assign(
        &p,
        None,
        &on(d(2026, 11, 22)),
        &[b("+262262620011")],
        &annex,
    )
    .unwrap();

    // A Paris number at the Lyon site: fine by default (ARCEP 2019-0954)...
    let lyon = Assignee::new("acme", Some("acme-multisite"), Some("lyon"));
    inv.clone()
        .assign(
            &p,
            Some(&data),
            &on(d(2026, 11, 22)),
            &[b("+33145233300")],
            &lyon,
        )
        .unwrap();
    // ...refused when the provider's policy checks metropolitan ZNEs.
    let path = dir.path().join("numbers/settings.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "metropolitan_zne_check = false",
        "metropolitan_zne_check = true",
    );
    std::fs::write(&path, text).unwrap();
    let (p, mut inv) = load(dir.path());
    let err = inv
        .assign(
            &p,
            Some(&data),
            &on(d(2026, 11, 22)),
            &[b("+33145233300")],
            &lyon,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("outside ZNE 75056 Paris")
            && err.to_string().contains("metropolitan_zne_check"),
        "{err}"
    );
    inv.assign(
        &p,
        Some(&data),
        &on(d(2026, 11, 22)),
        &[b("+33145233300")],
        &Assignee::new("acme", Some("acme-multisite"), Some("paris-hq")),
    )
    .unwrap();
}

#[test]
fn only_numbers_of_the_providers_blocks_join_the_stock() {
    let dir = sample_copy();
    let (_, mut inv) = load(dir.path());
    let data = arcep();
    let err = inv
        .add(Some(&data), &on(d(2026, 11, 22)), &[b("+33145232500")])
        .unwrap_err();
    assert!(
        matches!(err.first_kind(), Some(InventoryErrorKind::NotOurBlock { holder: Some(h) }) if h == "SFR0"),
        "{err}"
    );
    let err = inv
        .add(Some(&data), &on(d(2026, 11, 22)), &[b("+33199990000")])
        .unwrap_err();
    assert!(
        err.to_string().contains("in no block of the ARCEP data"),
        "{err}"
    );
    let err = inv
        .add(Some(&data), &on(d(2026, 11, 22)), &[b("+33145233100")])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already in the inventory (assigned)"),
        "{err}"
    );
    let err = inv
        .add(
            None,
            &on(d(2026, 11, 22)),
            &[b("+33800123456"), b("+3236000000")],
        )
        .unwrap_err();
    assert!(err.to_string().contains("not of the French plan"), "{err}");
    inv.add(
        Some(&data),
        &on(d(2026, 11, 22)),
        &NumberBlock::parse_range("+33145233400..+33145233999").unwrap(),
    )
    .unwrap();
    assert_eq!(
        inv.entry(&n("+33145233777")).unwrap().state,
        NumberState::Available
    );
}

#[test]
fn released_ported_numbers_return_to_their_block_holder() {
    let dir = sample_copy();
    let path = dir.path().join("numbers/inventory.csv");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "+33145231077,quarantined,ported,acme,acme-multisite,paris-hq,2026-06-01,2026-08-30,\n",
    );
    std::fs::write(&path, text).unwrap();
    let (p, mut inv) = load(dir.path());
    let err = inv
        .assign(
            &p,
            None,
            &on(d(2026, 11, 22)),
            &[b("+33145231077")],
            &Assignee::new("contoso", Some("contoso-teams"), None),
        )
        .unwrap_err();
    assert!(
        matches!(
            err.first_kind(),
            Some(InventoryErrorKind::PortedNumberNotReusable)
        ),
        "{err}"
    );
    inv.give_back(&on(d(2026, 11, 22)), &[b("+33145231077")])
        .unwrap();
    assert_eq!(
        inv.entry(&n("+33145231077")).unwrap().state,
        NumberState::Released
    );
}

#[test]
fn changes_and_their_journal_survive_a_reload() {
    let dir = sample_copy();
    let before = Journal::load(dir.path()).unwrap().records().len();
    {
        let _lock = number_portability::inventory::NumbersLock::acquire(dir.path()).unwrap();
        let (p, mut inv) = load(dir.path());
        inv.release(&on(d(2026, 11, 22)), &[b("+33240990001")], None)
            .unwrap();
        inv.assign(
            &p,
            None,
            &on(d(2026, 11, 22)),
            &[b("+33145233300..+33145233309")],
            &Assignee::new("acme", Some("acme-multisite"), Some("lyon")),
        )
        .unwrap();
        inv.save(dir.path()).unwrap();
        assert!(inv.pending().is_empty());
    }
    let (_, inv) = load(dir.path());
    assert_eq!(
        inv.entry(&n("+33240990001")).unwrap().state,
        NumberState::Quarantined
    );
    assert_eq!(inv.route(&n("+33145233305")).unwrap().site, "lyon");
    assert!(inv.route(&n("+33145233310")).is_none());
    let journal = Journal::load(dir.path()).unwrap();
    assert_eq!(journal.records().len(), before + 2);
    let history: Vec<(&str, &str, &str)> = journal
        .of_number(n("+33240990001"))
        .map(|r| (r.action.as_str(), r.from.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            ("add", "", "available"),
            ("assign", "available", "assigned"),
            ("release", "assigned", "quarantined")
        ]
    );
    let last = journal.records().last().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.reason.as_str(), last.date),
        ("tester", "test", d(2026, 11, 22))
    );
    assert_eq!(last.subject, "+33145233300..+33145233309");
    // The provisioning check still passes: it ignores numbers/.
    Provisioning::load(dir.path()).unwrap();
}

mod no_panics {
    use super::*;
    use proptest::prelude::*;

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("+33145233300".to_owned()),
            Just("+33145233100..+33145233199".to_owned()),
            Just("+262262620010".to_owned()),
            Just("assigned".to_owned()),
            Just("porting_out".to_owned()),
            Just("quarantined".to_owned()),
            Just("acme".to_owned()),
            Just("acme-multisite".to_owned()),
            Just("lyon".to_owned()),
            Just("2026-11-22".to_owned()),
            Just("PI-2026-0001".to_owned()),
            "[ -~]{0,16}",
            "\\PC{0,8}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        // Whatever the inventory and request files hold, loading reports errors
        // or succeeds; it never panics.
        #[test]
        fn any_files_load_or_report(
            rows in prop::collection::vec(prop::collection::vec(field(), 0..11), 0..6),
            requests in prop::collection::vec(prop::collection::vec(field(), 0..15), 0..3),
            header in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("numbers")).unwrap();
            let p = Provisioning::load(&sample_dir()).unwrap();
            let mut inv = String::new();
            if header {
                inv.push_str("number,state,origin,customer,trunk,site,since,until,request\n");
            }
            for r in &rows {
                inv.push_str(&r.join(","));
                inv.push('\n');
            }
            let mut req = String::from("id,direction,state,customer,trunk,site,numbers,rio,operator,requested_date,submitted_on,port_date,rejection,note\n");
            for r in &requests {
                req.push_str(&r.join(","));
                req.push('\n');
            }
            std::fs::write(dir.path().join("numbers/inventory.csv"), inv).unwrap();
            std::fs::write(dir.path().join("numbers/port_requests.csv"), req).unwrap();
            if let Err(errors) = Inventory::load_with(dir.path(), &p) {
                prop_assert!(!errors.is_empty());
                for e in errors.iter() {
                    prop_assert!(e.to_string().starts_with("numbers/"), "{}", e);
                }
            }
        }

        #[test]
        fn any_text_as_rio_or_range(text in "\\PC{0,30}", number in "[0-9+ .]{0,16}") {
            if let Ok(rio) = number_portability::rio::Rio::parse(&text) {
                if let Ok(n) = E164::parse(&number) {
                    let _ = rio.check_number(&n);
                }
            }
            let _ = NumberBlock::parse_range(&text);
            let _ = NumberBlock::parse_range(&format!("{number}..{number}9"));
        }
    }
}
