//! Property tests: normalising is idempotent and every format re-parses to the same
//! number.

use number_portability::{default_plan, parse, Number};
use proptest::prelude::*;

/// National French numbers of every shape the plan accepts.
fn french_national() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u8..=9, proptest::collection::vec(0u8..=9, 8))
            .prop_map(|(z, rest)| {
                let mut s = format!("0{z}");
                s.extend(rest.iter().map(|d| char::from(b'0' + d)));
                s
            })
            // 0700 numbers have 14 digits; 0508 is Saint-Pierre-et-Miquelon, whose
            // numbers never start with 0.
            .prop_filter("10-digit 0700 or 05080", |s| {
                !s.starts_with("0700") && !s.starts_with("05080")
            }),
        proptest::collection::vec(0u8..=9, 10).prop_map(|rest| {
            let mut s = "0700".to_owned();
            s.extend(rest.iter().map(|d| char::from(b'0' + d)));
            s
        }),
        proptest::collection::vec(0u8..=9, 11).prop_map(|rest| {
            let mut s = "09".to_owned();
            s.extend(rest.iter().map(|d| char::from(b'0' + d)));
            s
        }),
        proptest::collection::vec(0u8..=9, 5).prop_map(|rest| {
            let mut s = "05084".to_owned();
            s.extend(rest.iter().map(|d| char::from(b'0' + d)));
            s
        }),
    ]
}

/// Arbitrary strings made of the characters numbers are written with.
fn number_like() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(tel:|sip:)?[+]?[0-9 .()/-]{0,22}(@h)?").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn normalising_twice_is_normalising_once(input in number_like()) {
        if let Ok(n) = parse(&input) {
            let again = parse(n.as_str()).expect("a normalised number parses");
            prop_assert_eq!(again, n);
        }
    }

    #[test]
    fn every_format_round_trips(national in french_national()) {
        let plan = default_plan();
        let n = plan.parse(&national).expect("generated numbers are valid");
        let Number::E164(e) = n else { panic!("{national} is not short") };
        for text in [
            e.to_string(),
            e.format_international(),
            e.to_tel_uri(),
            plan.format_national(&n),
            format!("sip:{}@sbc.example.com;user=phone", e),
            format!("00{}", e.digits()),
        ] {
            prop_assert_eq!(plan.parse(&text).ok(), Some(n), "{}", text);
        }
        prop_assert_eq!(plan.to_national(&e), Some(national));
    }

    #[test]
    fn parse_never_panics(input in "\\PC{0,40}") {
        let _ = parse(&input);
    }

    #[test]
    fn uri_like_inputs_never_panic_and_stay_idempotent(
        input in "(<|\"x\" <)?(sips?:|tel:|TEL:)?[%+0-9a-fA-F;=@<>:. ()-]{0,30}(;phone-context=[+]?[0-9a-z.-]{0,6})?(@[a-z0-9.]{0,8})?(;user=phone)?>?"
    ) {
        if let Ok(n) = parse(&input) {
            prop_assert_eq!(parse(n.as_str()).ok(), Some(n));
        }
    }
}
