//! Classification of every category of the French plan and the international prefix
//! table.

use number_portability::{classify, parse, Category, Classification, NumberingPlan, Region};

fn class(input: &str) -> Classification {
    let n = parse(input).unwrap_or_else(|e| panic!("{e}"));
    classify(&n)
}

#[test]
fn french_categories() {
    let cases = [
        ("0123456789", Category::FixedGeographic),
        ("0299999999", Category::FixedGeographic),
        ("0401234567", Category::Unassigned),
        ("0412345678", Category::FixedGeographic),
        ("0912345678", Category::NonGeographic),
        ("0912345678901", Category::NonGeographic),
        ("0612345678", Category::Mobile),
        ("0712345678", Category::Unassigned),
        ("0733333333", Category::Mobile),
        ("0799999999", Category::Mobile),
        ("07 00 12 34 56 78 90", Category::MachineToMachine),
        ("0800123456", Category::SpecialFree),
        ("0805123456", Category::SpecialFree),
        ("0806123456", Category::SpecialNormalPrice),
        ("0809123456", Category::SpecialNormalPrice),
        ("0810123456", Category::SpecialPremium),
        ("0825123456", Category::SpecialPremium),
        ("0899123456", Category::SpecialPremium),
        ("0840123456", Category::Unassigned),
        ("1014", Category::OperatorService),
        ("3949", Category::ShortNumber),
        ("116006", Category::ShortNumber),
        ("118712", Category::Directory),
        ("1633", Category::CarrierSelection),
    ];
    for (input, want) in cases {
        let c = class(input);
        assert_eq!(c.category, want, "{input}");
        assert!(c.is_national, "{input}");
        assert!(!c.is_overseas, "{input}");
        assert!(!c.is_emergency, "{input}");
        assert_eq!(c.country.as_str(), "FR", "{input}");
        assert_eq!(c.calling_code, 33, "{input}");
    }
}

#[test]
fn every_emergency_number() {
    for code in [
        "15", "17", "18", "112", "114", "115", "116000", "116117", "119", "191", "196", "197",
    ] {
        let c = class(code);
        assert_eq!(c.category, Category::Emergency, "{code}");
        assert!(c.is_emergency, "{code}");
        assert!(c.is_national, "{code}");
    }
}

#[test]
fn metropolitan_regions() {
    let want = [
        ("01", Region::IleDeFrance),
        ("02", Region::NorthWest),
        ("03", Region::NorthEast),
        ("04", Region::SouthEast),
        ("05", Region::SouthWest),
    ];
    for (prefix, region) in want {
        let c = class(&format!("{prefix}45678901"));
        assert_eq!(c.region, Some(region), "{prefix}");
        assert_eq!(c.territory, None);
    }
    assert_eq!(class("0612345678").region, None);
    assert_eq!(class("0912345678").region, None);
}

#[test]
fn overseas_territories() {
    let cases = [
        ("0262123456", "RE", 262, Category::FixedGeographic),
        ("0692123456", "RE", 262, Category::Mobile),
        ("0269612345", "YT", 262, Category::FixedGeographic),
        ("0639123456", "YT", 262, Category::Mobile),
        ("0590123456", "GP", 590, Category::FixedGeographic),
        ("0690123456", "GP", 590, Category::Mobile),
        ("0594123456", "GF", 594, Category::FixedGeographic),
        ("0694123456", "GF", 594, Category::Mobile),
        ("0596123456", "MQ", 596, Category::FixedGeographic),
        ("0697123456", "MQ", 596, Category::Mobile),
        ("0508411234", "PM", 508, Category::FixedGeographic),
        ("0508551234", "PM", 508, Category::Mobile),
    ];
    for (input, territory, cc, category) in cases {
        let c = class(input);
        assert_eq!(c.country.as_str(), territory, "{input}");
        assert_eq!(
            c.territory.map(|t| t.as_str().to_owned()),
            Some(territory.to_owned()),
            "{input}"
        );
        assert_eq!(c.calling_code, cc, "{input}");
        assert_eq!(c.category, category, "{input}");
        assert!(c.is_overseas && c.is_national, "{input}");
        assert_eq!(c.region, None, "{input}");
    }
}

#[test]
fn comoros_and_other_french_speaking_places_are_international() {
    let km = class("+269 321 23 45");
    assert_eq!(km.country.as_str(), "KM");
    assert!(!km.is_national && !km.is_overseas);
    let nc = class("+687 12 34 56");
    assert_eq!(nc.country.as_str(), "NC");
    assert!(!nc.is_national);
}

#[test]
fn international_mobile_and_fixed() {
    let cases = [
        ("+32 470 12 34 56", "BE", Category::Mobile),
        ("+32 2 123 45 67", "BE", Category::FixedGeographic),
        ("+41 79 123 45 67", "CH", Category::Mobile),
        ("+41 22 123 45 67", "CH", Category::FixedGeographic),
        ("+49 151 12345678", "DE", Category::Mobile),
        ("+49 30 12345678", "DE", Category::FixedGeographic),
        ("+34 612 345 678", "ES", Category::Mobile),
        ("+34 912 345 678", "ES", Category::FixedGeographic),
        ("+39 312 345 6789", "IT", Category::Mobile),
        ("+39 06 1234 5678", "IT", Category::FixedGeographic),
        ("+44 7700 900123", "GB", Category::Mobile),
        ("+44 20 7946 0958", "GB", Category::FixedGeographic),
        ("+1 212 555 0123", "US", Category::FixedOrMobile),
        ("+1 514 555 0123", "CA", Category::FixedOrMobile),
        ("+1 800 555 0123", "US", Category::SpecialFree),
        ("+351 912 345 678", "PT", Category::Mobile),
        ("+351 213 456 789", "PT", Category::FixedGeographic),
        ("+31 6 12345678", "NL", Category::Mobile),
        ("+31 20 123 4567", "NL", Category::FixedGeographic),
        ("+212 612 345 678", "MA", Category::Mobile),
        ("+212 522 123 456", "MA", Category::FixedGeographic),
        ("+213 551 23 45 67", "DZ", Category::Mobile),
        ("+213 21 12 34 56", "DZ", Category::FixedGeographic),
        ("+216 20 123 456", "TN", Category::Mobile),
        ("+216 71 123 456", "TN", Category::FixedGeographic),
        ("+81 3 1234 5678", "JP", Category::Unknown),
        ("+882 16 123456", "001", Category::InternationalNetwork),
    ];
    for (input, country, category) in cases {
        let c = class(input);
        assert_eq!(c.country.as_str(), country, "{input}");
        assert_eq!(c.category, category, "{input}");
        assert!(
            !c.is_national && !c.is_overseas && !c.is_emergency,
            "{input}"
        );
    }
}

#[test]
fn longest_prefix_picks_territories_sharing_a_code() {
    assert_eq!(class("+1 787 555 0123").country.as_str(), "PR");
    assert_eq!(class("+44 1534 123456").country.as_str(), "JE");
    assert_eq!(class("+7 701 123 4567").country.as_str(), "KZ");
    assert_eq!(class("+7 495 123 4567").country.as_str(), "RU");
    assert_eq!(class("+39 06 698 12345").country.as_str(), "VA");
}

#[test]
fn replacing_the_prefix_table_changes_classification() {
    let plan = NumberingPlan::builder()
        .prefixes(
            "custom.csv",
            "prefix;category;region;lengths\n33;unassigned;;9\n336;special_premium;;\n".into(),
        )
        .build()
        .unwrap();
    let n = plan.parse("0612345678").unwrap();
    assert_eq!(plan.classify(&n).category, Category::SpecialPremium);
    let fixed = plan.parse("0123456789").unwrap();
    assert_eq!(plan.classify(&fixed).category, Category::Unassigned);
}

#[test]
fn data_dir_overrides_only_present_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fr_short_codes.csv"),
        "code;length;category;label\n3;4;directory;test\n",
    )
    .unwrap();
    let plan = NumberingPlan::builder()
        .data_dir(dir.path())
        .unwrap()
        .build()
        .unwrap();
    let n = plan.parse("3949").unwrap();
    assert_eq!(plan.classify(&n).category, Category::Directory);
    // 15 is no longer in the (replaced) short-code table.
    assert!(plan.parse("15").is_err());
    // The other tables kept their defaults.
    let m = plan.parse("0612345678").unwrap();
    assert_eq!(plan.classify(&m).category, Category::Mobile);
}

#[test]
fn national_format_and_arcep_digits() {
    let plan = number_portability::default_plan();
    let n = parse("+262692123456").unwrap();
    assert_eq!(plan.format_national(&n), "06 92 12 34 56");
    assert_eq!(
        plan.to_national(n.as_e164().unwrap()).as_deref(),
        Some("0692123456")
    );
    let pm = parse("+508411234").unwrap();
    assert_eq!(
        plan.to_national(pm.as_e164().unwrap()).as_deref(),
        Some("0508411234")
    );
    let be = parse("+32470123456").unwrap();
    assert_eq!(plan.to_national(be.as_e164().unwrap()), None);
    assert_eq!(plan.format_national(&be), "+32 470123456");
}
