//! The demo's sample set loads, and the lookups other components rely on give the
//! documented answers.

use chrono::{NaiveDate, TimeZone, Utc};
use provisioning::{CustomerCategory, Host, Plan, Provisioning, Transport};

use crate::util::{copy_dir, listing, sample_dir};

fn sample() -> Provisioning {
    Provisioning::load(&sample_dir()).unwrap_or_else(|e| panic!("{}", listing(&e)))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn loads_with_the_expected_counts() {
    let p = sample();
    assert_eq!(p.customers().len(), 5);
    assert_eq!(p.trunks().len(), 5);
    assert_eq!(p.tariffs().len(), 71);
    let ids: Vec<&str> = p.trunks().iter().map(|t| t.id()).collect();
    assert_eq!(
        ids,
        [
            "acme-multisite",
            "boulangerie-martin-nantes",
            "telemarket-pro-lille",
            "contoso-teams",
            "hotel-lagon-reunion"
        ]
    );
}

#[test]
fn source_addresses_find_the_trunk_and_the_site() {
    let p = sample();
    let found = |ip: &str| {
        p.trunk_for_source(ip.parse().unwrap())
            .map(|m| (m.trunk.id(), m.site.map(|s| s.id())))
    };
    assert_eq!(
        found("127.0.0.21"),
        Some(("acme-multisite", Some("paris-hq")))
    );
    assert_eq!(found("127.0.0.22"), Some(("acme-multisite", Some("lyon"))));
    // Inside the trunk's /30 but claimed by no site.
    assert_eq!(found("127.0.0.23"), Some(("acme-multisite", None)));
    assert_eq!(
        found("127.0.0.11"),
        Some(("boulangerie-martin-nantes", None))
    );
    assert_eq!(found("::ffff:127.0.0.13"), Some(("contoso-teams", None)));
    assert_eq!(found("127.0.0.14"), Some(("hotel-lagon-reunion", None)));
    assert_eq!(found("127.0.0.24"), None);
    assert_eq!(found("127.0.0.1"), None);
    assert_eq!(found("::1"), None);
}

#[test]
fn tls_names_and_digest_users_find_their_trunk() {
    let p = sample();
    assert_eq!(
        p.trunk_for_tls_fqdn("SBC.Contoso.FR").map(|t| t.id()),
        Some("contoso-teams")
    );
    assert_eq!(
        p.trunk_for_tls_fqdn("sbc.contoso.fr.").map(|t| t.id()),
        Some("contoso-teams")
    );
    assert!(p.trunk_for_tls_fqdn("sbc.fabrikam.fr").is_none());
    assert_eq!(
        p.trunk_for_digest_user("telemarket-pro").map(|t| t.id()),
        Some("telemarket-pro-lille")
    );
    assert!(p.trunk_for_digest_user("Telemarket-Pro").is_none());
}

#[test]
fn the_teams_trunk_uses_mutual_tls() {
    let p = sample();
    let teams = p.trunk("contoso-teams").unwrap();
    assert!(teams.identify().mutual_tls());
    assert_eq!(teams.identify().tls_fqdn(), Some("sbc.contoso.fr"));
    assert_eq!(teams.inbound().transport(), Transport::Tls);
    assert_eq!(
        teams.inbound().target().host(),
        &Host::Dns("sbc.contoso.fr".into())
    );
    assert_eq!(teams.inbound().target().port(), 5061);
    assert_eq!(teams.international_destinations(), ["+44"]);
}

#[test]
fn channel_counts_change_at_paris_midnight() {
    let p = sample();
    let acme = p.trunk("acme-multisite").unwrap();
    assert_eq!(acme.plan(), Plan::FixedMobileIntl);
    assert_eq!(acme.international_destinations(), ["+32", "+41"]);
    assert_eq!(acme.channels_on(date(2023, 12, 31)), 0);
    assert_eq!(acme.channels_on(date(2026, 10, 15)), 20);
    assert_eq!(acme.channels_on(date(2026, 10, 16)), 30);
    // 16 October 2026 00:00 in Paris (UTC+2) is 15 October 22:00 UTC.
    let midnight = Utc.with_ymd_and_hms(2026, 10, 15, 22, 0, 0).unwrap();
    assert_eq!(
        acme.channels_at(midnight - chrono::Duration::seconds(1)),
        20
    );
    assert_eq!(acme.channels_at(midnight), 30);
    assert_eq!(acme.site("paris-hq").unwrap().channels(), Some(20));
    assert_eq!(acme.site("lyon").unwrap().channels(), Some(10));
    assert_eq!(
        p.trunk("boulangerie-martin-nantes")
            .unwrap()
            .channels_on(date(2026, 1, 1)),
        2
    );
}

#[test]
fn the_hotel_plan_is_suspended_in_september_2026() {
    let p = sample();
    let hotel = p.trunk("hotel-lagon-reunion").unwrap();
    assert_eq!(hotel.plan(), Plan::Fixed);
    assert!(hotel.sites()[0].is_overseas());
    assert_eq!(hotel.sites()[0].insee_code(), "97411");
    // 5 September 2026 00:00 Paris is 4 September 22:00 UTC; the end is exclusive.
    let start = Utc.with_ymd_and_hms(2026, 9, 4, 22, 0, 0).unwrap();
    let end = Utc.with_ymd_and_hms(2026, 9, 11, 22, 0, 0).unwrap();
    let suspension = hotel.suspension_at(start).expect("suspended");
    assert!(suspension.reason().contains("ticket 5821"));
    assert_eq!(suspension.to(), end);
    assert!(hotel
        .suspension_at(start - chrono::Duration::seconds(1))
        .is_none());
    assert!(hotel.suspension_at(end).is_none());
    assert!(p
        .trunk("acme-multisite")
        .unwrap()
        .suspension_at(start)
        .is_none());
}

#[test]
fn customers_have_their_categories() {
    let p = sample();
    let telemarket = p.customer("telemarket-pro").unwrap();
    assert_eq!(telemarket.category(), CustomerCategory::CallCentre);
    assert!(telemarket.category().is_telecom_professional());
    let acme = p.customer("acme").unwrap();
    assert!(!acme.category().is_telecom_professional());
    assert_eq!(acme.contract_start(), date(2023, 4, 1));
    assert_eq!(acme.currency(), "EUR");
    assert_eq!(p.trunks_of("acme").count(), 1);
    assert!(p.customer("nobody").is_none());
}

#[test]
fn the_uk_price_changes_on_15_october_2026() {
    let p = sample();
    let uk: Vec<_> = p.tariffs().iter().filter(|r| r.prefix() == "+44").collect();
    assert_eq!(uk.len(), 2);
    let price_on = |d: NaiveDate| {
        let rows: Vec<_> = uk.iter().filter(|r| r.in_force_on(d)).collect();
        assert_eq!(rows.len(), 1, "exactly one +44 row in force on {d}");
        rows[0].price_per_minute().to_string()
    };
    assert_eq!(price_on(date(2026, 10, 14)), "0.03");
    assert_eq!(price_on(date(2026, 10, 15)), "0.025");
    assert_eq!(uk[0].effective_to(), Some(uk[1].effective_from()));
    assert_eq!(uk[0].file(), "tariffs/standard.csv");
}

#[test]
fn free_numbers_and_increments_are_as_documented() {
    let p = sample();
    let row = |prefix: &str| {
        p.tariffs()
            .iter()
            .find(|r| r.prefix() == prefix)
            .unwrap_or_else(|| panic!("no row for {prefix}"))
    };
    assert!(row("+33800").price_per_minute().is_zero());
    assert_eq!(row("+336").increments().to_string(), "60/60");
    assert_eq!(row("+447").increments().to_string(), "30/6");
    assert_eq!(row("+3389").increments().to_string(), "1/1");
    assert!(row("3949").is_short_number());
    assert!(row("112").price_per_minute().is_zero());
}

#[test]
fn the_fingerprint_identifies_the_whole_directory() {
    let p = sample();
    let fingerprint = p.fingerprint().to_owned();
    assert_eq!(fingerprint.len(), 64);
    assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(sample().fingerprint(), fingerprint, "stable across loads");

    let copy = tempfile::tempdir().unwrap();
    copy_dir(&sample_dir(), copy.path());
    let copied = Provisioning::load(copy.path()).unwrap();
    assert_eq!(copied.fingerprint(), fingerprint, "independent of location");

    // Files owned by other crates count, although this crate does not read them.
    std::fs::write(copy.path().join("plans.toml"), "# rating settings\n").unwrap();
    let with_plans = Provisioning::load(copy.path()).unwrap();
    assert_ne!(with_plans.fingerprint(), fingerprint);
}
