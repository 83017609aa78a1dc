//! Port-in and port-out requests: every transition, the invalid ones, the checks
//! and what they do to the inventory.

use std::path::Path;

use chrono::NaiveDate;
use number_portability::inventory::{
    Change, Inventory, InventoryErrorKind, InventoryErrors, Journal, NumberBlock, NumberState,
};
use number_portability::porting::workflow::{contract_reference, PortInOrder, PortOutOrder};
use number_portability::porting::{Direction, PortState, RejectReason};
use number_portability::rio::{rio_key, Rio};
use provisioning::Provisioning;

use crate::inventory::{arcep, b, d, n, on, sample_copy};

fn load(dir: &Path) -> (Provisioning, Inventory) {
    let p = Provisioning::load(dir).unwrap();
    let i = Inventory::load_with(dir, &p).unwrap_or_else(|e| panic!("{e}"));
    (p, i)
}

/// A valid RIO of operator `code` for the national number.
fn rio_for(code: &str, national: &str) -> String {
    let head = format!("{code}FAB1234");
    format!("{head}{}", rio_key(&head, national).unwrap())
}

/// Three SFR numbers for acme's Lyon site, with a valid SFR RIO.
fn order() -> PortInOrder {
    PortInOrder {
        customer: "acme".into(),
        trunk: "acme-multisite".into(),
        site: Some("lyon".into()),
        numbers: NumberBlock::parse_range("0145232100..0145232102").unwrap(),
        rio: rio_for("02", "0145232100"),
        donor: None,
        requested_date: Some(d(2026, 12, 1)),
        note: String::new(),
    }
}

fn kind(e: &InventoryErrors) -> &InventoryErrorKind {
    e.first_kind().unwrap()
}

/// Monday 23 November 2026.
fn monday() -> NaiveDate {
    d(2026, 11, 23)
}

#[test]
fn port_in_lifecycle_moves_numbers_into_the_inventory() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let data = arcep();
    let id = inv
        .create_port_in(&p, Some(&data), &on(monday()), &order())
        .unwrap();
    assert_eq!(id, "PI-2026-0003");
    let r = inv.request(&id).unwrap();
    assert_eq!(
        (r.state, r.operator.as_deref()),
        (PortState::Draft, Some("SFR0"))
    );
    // A draft moves nothing.
    assert!(inv.entry(&n("+33145232101")).is_none());

    inv.submit_port_in(&p, Some(&data), &on(monday()), &id)
        .unwrap();
    let e = inv.entry(&n("+33145232101")).unwrap();
    assert_eq!(
        (e.state, e.request.as_deref()),
        (NumberState::PortingIn, Some(id.as_str()))
    );
    assert!(
        inv.route(&n("+33145232101")).is_none(),
        "still served by the donor"
    );
    assert!(inv.belongs_to(&n("+33145232101"), "acme"));

    inv.accept_port(&on(d(2026, 11, 24)), Direction::In, &id)
        .unwrap();
    // Default port date: the date the subscriber asked for.
    let date = inv
        .schedule_port(&on(d(2026, 11, 24)), Direction::In, &id, None)
        .unwrap();
    assert_eq!(date, d(2026, 12, 1));
    let err = inv
        .complete_port(&on(d(2026, 11, 30)), Direction::In, &id)
        .unwrap_err();
    assert!(
        err.to_string().contains("scheduled for 2026-12-01"),
        "{err}"
    );
    inv.complete_port(&on(d(2026, 12, 1)), Direction::In, &id)
        .unwrap();
    let route = inv.route(&n("+33145232101")).unwrap();
    assert_eq!((route.customer, route.site), ("acme", "lyon"));
    assert_eq!(
        inv.entry(&n("+33145232101")).unwrap().origin,
        number_portability::inventory::Origin::Ported
    );

    // Saved and reloaded, with every transition in the journal.
    inv.save(dir.path()).unwrap();
    let (_, inv) = load(dir.path());
    assert_eq!(inv.request(&id).unwrap().state, PortState::Completed);
    assert!(inv.route(&n("+33145232100")).is_some());
    let journal = Journal::load(dir.path()).unwrap();
    let steps: Vec<(&str, &str, &str)> = journal
        .of_request(&id)
        .filter(|r| r.subject == id)
        .map(|r| (r.action.as_str(), r.from.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("port_in.create", "", "draft"),
            ("port_in.submit", "draft", "submitted"),
            ("port_in.accept", "submitted", "accepted"),
            ("port_in.schedule", "accepted", "scheduled"),
            ("port_in.complete", "scheduled", "completed"),
        ]
    );
    assert!(journal.of_request(&id).all(|r| r.actor == "tester"));
    let history: Vec<&str> = journal
        .of_number(n("+33145232102"))
        .map(|r| r.to.as_str())
        .collect();
    assert_eq!(history, ["porting_in", "assigned"]);
}

#[test]
fn port_in_checks_numbers_rio_and_dates() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let data = arcep();
    let cases: Vec<(PortInOrder, &str)> = vec![
        (
            PortInOrder {
                rio: rio_for("02", "0145232199"),
                ..order()
            },
            "key",
        ),
        (
            PortInOrder {
                rio: String::new(),
                ..order()
            },
            "no RIO given",
        ),
        (
            PortInOrder {
                rio: rio_for("FA", "0145232100"),
                ..order()
            },
            "issued by the provider itself",
        ),
        (
            PortInOrder {
                rio: rio_for("77", "0145232100"),
                ..order()
            },
            "RIO operator code 77",
        ),
        (
            PortInOrder {
                numbers: vec![b("+33145233000")],
                rio: rio_for("02", "0145233000"),
                ..order()
            },
            "already in the inventory (assigned)",
        ),
        (
            PortInOrder {
                numbers: vec![b("+33145231042")],
                rio: rio_for("01", "0145231042"),
                ..order()
            },
            "port already in progress (request PI-2026-0001)",
        ),
        (
            PortInOrder {
                numbers: vec![b("+262262123000")],
                rio: rio_for("02", "0262123000"),
                ..order()
            },
            "only be used on a site in RE",
        ),
        (
            PortInOrder {
                requested_date: Some(d(2026, 12, 25)),
                ..order()
            },
            "2026-12-25 is not a working day (Noël)",
        ),
        (
            PortInOrder {
                requested_date: Some(d(2027, 3, 29)),
                ..order()
            },
            "2027-03-29 is not a working day (Lundi de Pâques)",
        ),
        (
            PortInOrder {
                requested_date: Some(d(2026, 11, 20)),
                ..order()
            },
            "is in the past",
        ),
        (
            PortInOrder {
                site: None,
                ..order()
            },
            "has several sites",
        ),
    ];
    for (o, phrase) in cases {
        let err = inv
            .create_port_in(&p, Some(&data), &on(monday()), &o)
            .unwrap_err();
        assert!(err.to_string().contains(phrase), "{phrase}: {err}");
    }
    assert!(inv.pending().is_empty(), "nothing was recorded");
    // A valid order goes through; a second one for the same numbers does not.
    let id = inv
        .create_port_in(&p, Some(&data), &on(monday()), &order())
        .unwrap();
    let err = inv
        .create_port_in(&p, Some(&data), &on(monday()), &order())
        .unwrap_err();
    assert!(
        matches!(kind(&err), InventoryErrorKind::PortInProgress { request } if *request == id),
        "{err}"
    );
}

/// Drives a fresh port-in of `order()` to `state`; returns its id.
fn port_in_in_state(inv: &mut Inventory, p: &Provisioning, state: PortState) -> String {
    let c = on(monday());
    let id = inv.create_port_in(p, None, &c, &order()).unwrap();
    let path: &[PortState] = match state {
        PortState::Draft => &[],
        PortState::Submitted => &[PortState::Submitted],
        PortState::Accepted => &[PortState::Submitted, PortState::Accepted],
        PortState::Rejected => &[PortState::Submitted, PortState::Rejected],
        PortState::Scheduled => &[
            PortState::Submitted,
            PortState::Accepted,
            PortState::Scheduled,
        ],
        PortState::Completed => &[
            PortState::Submitted,
            PortState::Accepted,
            PortState::Scheduled,
            PortState::Completed,
        ],
        PortState::Cancelled => &[PortState::Cancelled],
    };
    for step in path {
        apply(inv, p, *step, &id, &on(d(2026, 12, 1))).unwrap();
    }
    assert_eq!(inv.request(&id).unwrap().state, state);
    id
}

fn apply(
    inv: &mut Inventory,
    p: &Provisioning,
    to: PortState,
    id: &str,
    c: &Change,
) -> Result<(), InventoryErrors> {
    match to {
        PortState::Draft => unreachable!(),
        PortState::Submitted => inv.submit_port_in(p, None, c, id),
        PortState::Accepted => inv.accept_port(c, Direction::In, id),
        PortState::Rejected => inv.reject_port(
            c,
            Direction::In,
            id,
            RejectReason::NumberInactive,
            "line closed",
        ),
        PortState::Scheduled => inv
            .schedule_port(c, Direction::In, id, Some(d(2026, 12, 1)))
            .map(|_| ()),
        PortState::Completed => inv.complete_port(c, Direction::In, id),
        PortState::Cancelled => inv.cancel_port(c, Direction::In, id),
    }
}

#[test]
fn every_port_transition_and_only_those_are_allowed() {
    let dir = sample_copy();
    let (p, base) = load(dir.path());
    let targets = [
        PortState::Submitted,
        PortState::Accepted,
        PortState::Rejected,
        PortState::Scheduled,
        PortState::Completed,
        PortState::Cancelled,
    ];
    let mut allowed = Vec::new();
    for from in PortState::ALL {
        for to in targets {
            let mut inv = base.clone();
            let id = port_in_in_state(&mut inv, &p, from);
            let before = inv.clone();
            match apply(&mut inv, &p, to, &id, &on(d(2026, 12, 1))) {
                Ok(()) => {
                    assert_eq!(inv.request(&id).unwrap().state, to);
                    allowed.push((from, to));
                }
                Err(e) => {
                    assert!(
                        matches!(kind(&e), InventoryErrorKind::RequestState { .. }),
                        "{from} -> {to}: {e}"
                    );
                    // Refused: nothing changed.
                    assert_eq!(inv.pending().len(), before.pending().len());
                    assert_eq!(inv.request(&id), before.request(&id));
                }
            }
        }
    }
    use PortState as S;
    assert_eq!(
        allowed,
        [
            (S::Draft, S::Submitted),
            (S::Draft, S::Cancelled),
            (S::Submitted, S::Accepted),
            (S::Submitted, S::Rejected),
            (S::Submitted, S::Cancelled),
            (S::Accepted, S::Scheduled),
            (S::Accepted, S::Cancelled),
            (S::Scheduled, S::Scheduled),
            (S::Scheduled, S::Completed),
            (S::Scheduled, S::Cancelled),
        ]
    );
}

#[test]
fn rejection_and_cancellation_take_port_in_numbers_out() {
    let dir = sample_copy();
    let (p, base) = load(dir.path());
    for to in [PortState::Rejected, PortState::Cancelled] {
        let mut inv = base.clone();
        let id = port_in_in_state(&mut inv, &p, PortState::Submitted);
        assert!(inv.entry(&n("+33145232100")).is_some());
        apply(&mut inv, &p, to, &id, &on(monday())).unwrap();
        assert!(inv.entry(&n("+33145232100")).is_none(), "{to}");
        let r = inv.request(&id).unwrap();
        if to == PortState::Rejected {
            assert_eq!(r.rejection, Some(RejectReason::NumberInactive));
            assert_eq!(r.note, "line closed");
            let last = inv.pending().last().unwrap();
            assert_eq!(last.reason, "number_inactive: line closed");
        }
        // The numbers can be ported again.
        inv.create_port_in(&p, None, &on(monday()), &order())
            .unwrap();
    }
    // Wrong direction.
    let mut inv = base.clone();
    let id = port_in_in_state(&mut inv, &p, PortState::Submitted);
    let err = inv
        .accept_port(&on(monday()), Direction::Out, &id)
        .unwrap_err();
    assert!(
        matches!(kind(&err), InventoryErrorKind::Direction(_)),
        "{err}"
    );
    let err = inv
        .accept_port(&on(monday()), Direction::In, "PI-2099-0001")
        .unwrap_err();
    assert!(
        matches!(kind(&err), InventoryErrorKind::UnknownRequest),
        "{err}"
    );
}

#[test]
fn port_dates_are_working_days_within_the_legal_limit() {
    let dir = sample_copy();
    let (p, mut inv) = load(dir.path());
    let id = inv
        .create_port_in(
            &p,
            None,
            &on(monday()),
            &PortInOrder {
                requested_date: None,
                ..order()
            },
        )
        .unwrap();
    inv.submit_port_in(&p, None, &on(monday()), &id).unwrap();
    inv.accept_port(&on(monday()), Direction::In, &id).unwrap();
    let c = on(monday());
    // Submitted Monday 23 November: 7 working days later is Wednesday 2 December.
    let err = inv
        .schedule_port(&c, Direction::In, &id, Some(d(2026, 12, 3)))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("after the latest port date 2026-12-02"),
        "{err}"
    );
    let err = inv
        .schedule_port(&c, Direction::In, &id, Some(d(2026, 11, 28)))
        .unwrap_err();
    assert!(err.to_string().contains("Saturday"), "{err}");
    // Default: the next working day.
    assert_eq!(
        inv.schedule_port(&c, Direction::In, &id, None).unwrap(),
        d(2026, 11, 24)
    );
    // Rescheduling moves the date.
    assert_eq!(
        inv.schedule_port(&c, Direction::In, &id, Some(d(2026, 12, 2)))
            .unwrap(),
        d(2026, 12, 2)
    );
    // A later date is fine when the subscriber asked for it.
    let mut later = order();
    later.numbers = vec![b("+33145232200")];
    later.rio = rio_for("02", "0145232200");
    later.requested_date = Some(d(2027, 1, 15));
    let id = inv.create_port_in(&p, None, &c, &later).unwrap();
    inv.submit_port_in(&p, None, &c, &id).unwrap();
    inv.accept_port(&c, Direction::In, &id).unwrap();
    assert_eq!(
        inv.schedule_port(&c, Direction::In, &id, None).unwrap(),
        d(2027, 1, 15)
    );
}

/// The RIO the provider issued for `number` (held by `customer`).
fn our_rio(customer: &str, national: &str) -> String {
    let head = format!("FAF{}", contract_reference(customer));
    format!("{head}{}", rio_key(&head, national).unwrap())
}

fn port_out(numbers: &[&str], rio: &str) -> PortOutOrder {
    PortOutOrder {
        numbers: numbers.iter().map(|s| b(s)).collect(),
        rio: rio.to_owned(),
        recipient: "FRTE".into(),
        requested_date: None,
        note: String::new(),
    }
}

#[test]
fn port_out_keeps_numbers_in_service_until_completed() {
    let dir = sample_copy();
    let (_, mut inv) = load(dir.path());
    let rio = our_rio("boulangerie-martin", "0240990000");
    assert_eq!(
        inv.issued_rio(&n("+33240990000"), monday())
            .unwrap()
            .as_str(),
        rio
    );
    let receipt = inv
        .receive_port_out(
            &on(monday()),
            &port_out(&["+33240990000", "+33240990001"], &rio),
        )
        .unwrap();
    assert_eq!(receipt.rejection, None);
    assert_eq!(receipt.id, "PO-2026-0002");
    let route = inv.route(&n("+33240990001")).unwrap();
    assert_eq!(
        (route.customer, route.state),
        ("boulangerie-martin", NumberState::PortingOut)
    );
    assert!(inv.belongs_to(&n("+33240990001"), "boulangerie-martin"));
    // Released while being ported: refused.
    assert!(inv
        .release(&on(monday()), &[b("+33240990001")], None)
        .is_err());

    let mut rejected = inv.clone();
    rejected
        .reject_port(
            &on(monday()),
            Direction::Out,
            &receipt.id,
            RejectReason::NotHolder,
            "",
        )
        .unwrap();
    assert_eq!(
        rejected.entry(&n("+33240990001")).unwrap().state,
        NumberState::Assigned
    );

    inv.accept_port(&on(monday()), Direction::Out, &receipt.id)
        .unwrap();
    inv.schedule_port(
        &on(monday()),
        Direction::Out,
        &receipt.id,
        Some(d(2026, 11, 26)),
    )
    .unwrap();
    let mut cancelled = inv.clone();
    cancelled
        .cancel_port(&on(monday()), Direction::Out, &receipt.id)
        .unwrap();
    assert!(cancelled.route(&n("+33240990000")).is_some());

    inv.complete_port(&on(d(2026, 11, 26)), Direction::Out, &receipt.id)
        .unwrap();
    let e = inv.entry(&n("+33240990000")).unwrap();
    assert_eq!(
        (e.state, e.request.as_deref()),
        (NumberState::Released, Some(receipt.id.as_str()))
    );
    assert!(inv.route(&n("+33240990000")).is_none());
    assert!(!inv.belongs_to(&n("+33240990000"), "boulangerie-martin"));
    // The provider knows who serves it now.
    let s =
        number_portability::routing::serving_operator(&n("+33240990000"), Some(&inv), None, None)
            .unwrap();
    assert_eq!((s.operator.as_str(), s.by.as_str()), ("FRTE", "ported_out"));
}

#[test]
fn port_out_of_part_of_an_sda_block() {
    let dir = sample_copy();
    let (_, mut inv) = load(dir.path());
    let rio = our_rio("acme", "0145233140");
    let receipt = inv
        .receive_port_out(
            &on(monday()),
            &port_out(&["+33145233140..+33145233149"], &rio),
        )
        .unwrap();
    assert_eq!(receipt.rejection, None);
    inv.accept_port(&on(monday()), Direction::Out, &receipt.id)
        .unwrap();
    inv.schedule_port(&on(monday()), Direction::Out, &receipt.id, None)
        .unwrap();
    inv.complete_port(&on(d(2026, 11, 24)), Direction::Out, &receipt.id)
        .unwrap();
    assert!(inv.route(&n("+33145233145")).is_none());
    assert_eq!(inv.route(&n("+33145233139")).unwrap().customer, "acme");
    assert_eq!(inv.route(&n("+33145233150")).unwrap().customer, "acme");
}

#[test]
fn port_out_requests_failing_checks_are_rejected_with_the_reason() {
    let dir = sample_copy();
    let (_, base) = load(dir.path());
    let acme_rio = our_rio("acme", "0145233000");
    let cases: Vec<(PortOutOrder, RejectReason, &str)> = vec![
        (
            port_out(&["+33145233000"], ""),
            RejectReason::RioMissing,
            "no RIO",
        ),
        (
            port_out(&["+33145233000"], &our_rio("acme", "0145233001")),
            RejectReason::RioInconsistent,
            "does not match number 0145233000",
        ),
        (
            port_out(&["+33145233000"], &rio_for("01", "0145233000")),
            RejectReason::RioInconsistent,
            "issued by operator code 01",
        ),
        (
            port_out(&["+33145233000"], &our_rio("contoso", "0145233000")),
            RejectReason::RioInconsistent,
            "not that of the numbers' holder",
        ),
        (
            port_out(&["+33145233000", "+33240990000"], &acme_rio),
            RejectReason::NotHolder,
            "several customers (acme, boulangerie-martin)",
        ),
        (
            port_out(&["+33145232500"], &our_rio("acme", "0145232500")),
            RejectReason::WrongData,
            "not a number of the provider",
        ),
        (
            port_out(&["+33145233300"], &our_rio("acme", "0145233300")),
            RejectReason::NumberInactive,
            "not in service (available)",
        ),
        (
            port_out(&["+33145231042"], &our_rio("acme", "0145231042")),
            RejectReason::PortInProgress,
            "porting_in (request PI-2026-0001)",
        ),
        (
            port_out(&["+33145233050"], &our_rio("acme", "0145233050")),
            RejectReason::WrongData,
            "no longer a number of the provider",
        ),
    ];
    for (o, reason, phrase) in cases {
        let mut inv = base.clone();
        let receipt = inv.receive_port_out(&on(monday()), &o).unwrap();
        let (got, detail) = receipt.rejection.clone().expect(phrase);
        assert_eq!(got, reason, "{phrase}: {detail}");
        assert!(detail.contains(phrase), "{phrase}: {detail}");
        let r = inv.request(&receipt.id).unwrap();
        assert_eq!((r.state, r.rejection), (PortState::Rejected, Some(reason)));
        // Nothing moved.
        for b in &o.numbers {
            assert_eq!(inv.entry(&b.first()), base.entry(&b.first()));
        }
    }
}

#[test]
fn released_numbers_stay_portable_for_40_days() {
    let dir = sample_copy();
    let (_, inv) = load(dir.path());
    // +33145233200 was released on 2026-10-05: portable until 2026-11-14.
    let rio = our_rio("acme", "0145233200");
    let mut late = inv.clone();
    let receipt = late
        .receive_port_out(&on(d(2026, 11, 15)), &port_out(&["+33145233200"], &rio))
        .unwrap();
    let (reason, detail) = receipt.rejection.unwrap();
    assert_eq!(reason, RejectReason::NumberInactive);
    assert!(
        detail.contains("could be ported out until 2026-11-14"),
        "{detail}"
    );
    assert!(late
        .issued_rio(&n("+33145233200"), d(2026, 11, 15))
        .is_err());

    let mut inv = inv;
    let receipt = inv
        .receive_port_out(&on(d(2026, 11, 13)), &port_out(&["+33145233200"], &rio))
        .unwrap();
    assert_eq!(receipt.rejection, None);
    let e = inv.entry(&n("+33145233200")).unwrap();
    assert_eq!(
        (e.state, e.until),
        (NumberState::PortingOut, Some(d(2027, 1, 3)))
    );
    // The customer left: not in service while it is ported.
    assert!(inv.route(&n("+33145233200")).is_none());
    inv.cancel_port(&on(d(2026, 11, 13)), Direction::Out, &receipt.id)
        .unwrap();
    let e = inv.entry(&n("+33145233200")).unwrap();
    assert_eq!(
        (e.state, e.since, e.until),
        (
            NumberState::Quarantined,
            d(2026, 10, 5),
            Some(d(2027, 1, 3))
        )
    );
}

#[test]
fn sample_rios_are_valid() {
    let dir = sample_copy();
    let (_, inv) = load(dir.path());
    for r in inv.requests() {
        if r.state == PortState::Rejected {
            continue;
        }
        let rio = Rio::parse(r.rio.as_deref().unwrap()).unwrap();
        rio.check_number(&r.numbers[0].first()).unwrap();
    }
}
