//! Runs as the billing team uses them: closing a month and re-running it, the
//! explanation of a trunk, the month-to-date preview, and the `rating` command line.

use std::process::Command;

use cdr::{CallKey, CallRecord, CallRow, Direction, Disposition, Source};
use rating::run::{close, run, RunError, RunOptions};

use crate::scenarios::Scenario;

fn extra_call(invite: &str) -> CallRecord {
    let invite_ms = chrono::DateTime::parse_from_rfc3339(invite)
        .unwrap()
        .timestamp_millis() as u64;
    CallRecord {
        key: CallKey::derive(&["scenario", "late-mobile"]),
        source: Source::Import {
            format: "scenario".into(),
            file: "runs.rs".into(),
            line: 1,
        },
        trunk_id: "t1".into(),
        customer_id: "acme".into(),
        site_id: None,
        direction: Direction::Outbound,
        caller: "+33140000000".into(),
        callee: "+33612345679".into(),
        original_called: None,
        forwarding_party: None,
        sip_call_id: "late-mobile".into(),
        final_status: Some(200),
        disposition: Disposition::Answered,
        emergency: false,
        invite_ms,
        answer_ms: Some(invite_ms + 1000),
        end_ms: invite_ms + 1000 + 600_000,
        billable_ms: 600_000,
        channels_in_force: None,
        calls_in_progress: None,
        revision: 0,
        teams: None,
        end_reason: None,
    }
}

#[tokio::test]
async fn a_closed_month_refuses_a_changed_rerun_unless_forced() {
    let s = Scenario::load("forwarding").await;
    let month = "2026-10".parse().unwrap();
    let first = run(&s.options(&s.out)).await.unwrap();
    let closed = close(&s.config, month, None).await.unwrap();
    assert_eq!(closed.run_id, first.run_id);

    // Same inputs: refused (the month is closed), no differences, nothing written.
    let same_out = s.dir.path().join("same");
    let same = run(&s.options(&same_out)).await.unwrap();
    assert!(same.refused);
    assert_eq!(same.closed_run.as_deref(), Some(first.run_id.as_str()));
    assert!(same.differences.is_empty(), "{:?}", same.differences);
    assert!(!same_out.exists());

    // A late record: the differences name the changed line, still refused.
    let mut insert = s.config.client().insert::<CallRow>("calls").await.unwrap();
    insert
        .write(&extra_call("2026-10-30T10:00:00+01:00").to_row())
        .await
        .unwrap();
    insert.end().await.unwrap();
    let changed = run(&s.options(&s.dir.path().join("changed")))
        .await
        .unwrap();
    assert!(changed.refused);
    assert_eq!(
        changed.differences,
        ["invoice line changed: acme t1 out_of_plan mobile: 0.75 → 1 EUR"],
        "30 min + 10 min of mobile at 0.025 = 1.00"
    );

    // Forced: written, recorded as forced; the month stays closed on the first run.
    let mut options = s.options(&s.dir.path().join("forced"));
    options.force = true;
    let forced = run(&options).await.unwrap();
    assert!(!forced.refused);
    assert_eq!(forced.files.len(), 4);
    let forced_flag: u8 = s
        .config
        .client()
        .query("SELECT forced FROM rating_runs FINAL WHERE run_id = ?")
        .bind(&forced.run_id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(forced_flag, 1);
    match close(&s.config, month, None).await {
        Err(RunError::Refused(why)) => assert!(why.contains("already closed on run"), "{why}"),
        other => panic!(
            "closing twice must be refused, got {:?}",
            other.map(|r| r.run_id)
        ),
    }
}

#[tokio::test]
async fn explain_reads_counters_breaches_lines_and_repriced_calls_from_the_stored_run() {
    let s = Scenario::load("forwarding").await;
    let month = "2026-10".parse().unwrap();
    run(&s.options(&s.out)).await.unwrap();
    let text = rating::explain::explain(&s.config, "t1", month, None)
        .await
        .unwrap();
    let u2c = CallKey::derive(&["scenario", "u2-c"]).as_str().to_owned();
    for expected in [
        "Trunk t1 (customer acme), 2026-10",
        "Plan fixed (breach policy excess), 1 channel-months",
        "forwarding +33140000101: 2 / 2 h\n",
        "forwarding +33140000102: 2.1833 / 2 h  ABOVE",
        &format!("crossed at 2026-10-07T09:00:00+02:00 by call {u2c}"),
        "2 call(s) re-priced, 0.132000 (policy excess)",
        "recommendation: suspend the unlimited plan",
        "0.13 EUR  calls billed per minute, fair use: permanent forwarding",
        &format!("2026-10-07T09:00:00+02:00 {u2c} to +33140000009 (fixed_geographic), 60 s answered, 60 s billed: 0.012000 [forwarding, tariff +331 tariffs/standard.csv:2]"),
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    match rating::explain::explain(&s.config, "nope", month, None).await {
        Err(RunError::Refused(why)) => assert!(why.contains("trunk \"nope\" is not in run")),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn preview_projects_month_to_date_counters_and_warns_above_the_share() {
    let s = Scenario::load("distinct_numbers").await;
    let inputs = rating::run::Inputs::load(&s.provisioning).unwrap();
    let month = "2026-10".parse().unwrap();
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    // Three hours into the month's first calls: 180 numbers each, projected far
    // above the allowance.
    let early = rating::preview::preview(
        &inputs,
        month,
        at("2026-10-01T12:00:00+02:00"),
        &s.config,
        None,
    )
    .await
    .unwrap();
    let w = early
        .warnings
        .iter()
        .find(|w| w.trunk_id == "t-at" && w.rule == "distinct_numbers")
        .unwrap();
    assert_eq!(w.measured, 180.into());
    // 12 h elapsed of 745 h: 180 × 745 / 12 = 11175.
    assert_eq!(w.projected, 11175.into());
    // At the month's end: t-at at 100 %, t-above at 301/300; 2.5 h of 40 is not listed.
    let end = rating::preview::preview(
        &inputs,
        month,
        at("2026-11-01T00:00:00+01:00"),
        &s.config,
        None,
    )
    .await
    .unwrap();
    let listed: Vec<(String, &str, String)> = end
        .warnings
        .iter()
        .map(|w| {
            (
                w.trunk_id.clone(),
                w.rule,
                w.percent.normalize().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "t-above".to_owned(),
                "distinct_numbers",
                "100.33".to_owned()
            ),
            ("t-at".to_owned(), "distinct_numbers", "100".to_owned()),
        ]
    );
}

#[tokio::test]
async fn the_command_line_runs_explains_and_reports_bad_inputs() {
    let s = Scenario::load("call_centre").await;
    let bin = env!("CARGO_BIN_EXE_rating");
    let out = s.dir.path().join("cli-out");
    let db = &s.config.database;
    let rating_run = |url: &str| {
        Command::new(bin)
            .args([
                "--clickhouse",
                url,
                "--database",
                db,
                "run",
                "--month",
                "2026-10",
            ])
            .arg("--provisioning")
            .arg(&s.provisioning)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let output = rating_run(&s.config.url);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("tc                           telecom_professional   billed 3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("callco                 3 line(s)        21.06 EUR"),
        "{stdout}"
    );
    for file in [
        "invoice_lines.csv",
        "breaches.csv",
        "unmatched.csv",
        "report.html",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    let explain = Command::new(bin)
        .args([
            "--clickhouse",
            &s.config.url,
            "--database",
            db,
            "explain",
            "--trunk",
            "tc",
            "--month",
            "2026-10",
        ])
        .output()
        .unwrap();
    assert!(explain.status.success());
    assert!(
        String::from_utf8_lossy(&explain.stdout).contains("telecom_professional: 3 calls measured")
    );

    std::fs::write(
        s.provisioning.join("plans.toml"),
        "[plans.fixed]\nchannel_price = 10.5\n",
    )
    .unwrap();
    let check = Command::new(bin)
        .arg("check")
        .arg("--provisioning")
        .arg(&s.provisioning)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("plans.toml:2: plans.fixed.channel_price: float 10.5 is not exact"),
        "{stderr}"
    );
    assert!(
        stderr.contains("plans.toml:1: plans: missing required field \"fixed_mobile_intl\""),
        "{stderr}"
    );
    // A run loads its inputs while the month starts streaming: a problem in the
    // inputs is still what it reports, with ClickHouse up or unreachable.
    for url in [s.config.url.as_str(), "http://127.0.0.1:1"] {
        let run = rating_run(url);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains("plans.toml:2: plans.fixed.channel_price: float 10.5 is not exact"),
            "{url}: {stderr}"
        );
    }
    let bad_month = Command::new(bin)
        .args(["run", "--month", "2026-13", "--provisioning"])
        .arg(&s.provisioning)
        .output()
        .unwrap();
    assert_eq!(bad_month.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_month.stderr).contains("\"2026-13\" is not a month"));
}

#[tokio::test]
async fn caller_numbers_outside_the_number_inventory_are_flagged_for_review() {
    let s = Scenario::load("forwarding").await;
    // acme's numbers in number-portability's inventory: the block its calls
    // present (+33140000000).
    std::fs::create_dir_all(s.provisioning.join("numbers")).unwrap();
    std::fs::write(
        s.provisioning.join("numbers/inventory.csv"),
        "number,state,origin,customer,trunk,site,since,until,request\n\
         +33140000000..+33140000009,assigned,own,acme,t1,main,2024-01-01,,\n",
    )
    .unwrap();
    let extra = |name: &str, caller: &str, answered: bool| {
        let base = extra_call("2026-10-20T10:00:00+02:00");
        CallRecord {
            key: CallKey::derive(&["scenario", name]),
            caller: caller.into(),
            sip_call_id: name.into(),
            disposition: if answered {
                Disposition::Answered
            } else {
                Disposition::Busy
            },
            final_status: Some(if answered { 200 } else { 486 }),
            answer_ms: base.answer_ms.filter(|_| answered),
            billable_ms: if answered { base.billable_ms } else { 0 },
            ..base
        }
    };
    let calls = [
        extra("foreign-answered", "+33299999999", true),
        extra("foreign-busy", "0288888888", false),
        extra("own-busy", "0140000005", false),
        extra("own-answered", "+33140000009", true),
    ];
    let mut insert = s.config.client().insert::<CallRow>("calls").await.unwrap();
    for c in &calls {
        insert.write(&c.to_row()).await.unwrap();
    }
    insert.end().await.unwrap();

    let summary = run(&s.options(&s.out)).await.unwrap();
    let outcome = &summary.rating.outcomes[0];
    assert!(outcome.counters.inventory_known);
    assert_eq!(
        outcome.counters.foreign_callers.iter().collect::<Vec<_>>(),
        ["+33288888888", "+33299999999"]
    );
    // Every call is counted, the unanswered ones included.
    assert_eq!(outcome.counters.calls, 9 + 4);
    let flags: Vec<_> = summary
        .rating
        .breaches
        .iter()
        .filter(|b| b.rule == rating::Rule::SharedService)
        .collect();
    assert_eq!(flags.len(), 1, "{flags:#?}");
    assert!(!flags[0].billed, "a flag for review bills nothing");
    assert!(
        flags[0].detail.contains("+33299999999"),
        "{}",
        flags[0].detail
    );
    assert!(
        !flags[0].detail.contains("+33140000005"),
        "{}",
        flags[0].detail
    );
    let breaches = std::fs::read_to_string(s.out.join("breaches.csv")).unwrap();
    assert!(breaches.contains("shared_service"), "{breaches}");
}

#[tokio::test]
async fn calls_of_unknown_trunks_are_listed_and_unreadable_text_is_named() {
    let s = Scenario::load("forwarding").await;
    let unknown = CallRecord {
        key: CallKey::derive(&["scenario", "unknown-trunk"]),
        trunk_id: "t-gone".into(),
        ..extra_call("2026-10-20T10:00:00+02:00")
    };
    let mut insert = s.config.client().insert::<CallRow>("calls").await.unwrap();
    insert.write(&unknown.to_row()).await.unwrap();
    insert.end().await.unwrap();
    let summary = run(&s.options(&s.out)).await.unwrap();
    let listed: Vec<_> = summary
        .rating
        .unmatched
        .iter()
        .filter(|u| u.trunk_id == "t-gone")
        .collect();
    assert_eq!(listed.len(), 1, "{:#?}", summary.rating.unmatched);
    assert_eq!(listed[0].call_key, unknown.key.as_str());
    assert!(
        listed[0].reason.starts_with("unknown trunk"),
        "{}",
        listed[0].reason
    );

    // A callee that is not UTF-8 (bytes no import or edge writes, but the table
    // allows): the run stops and names the call and the column.
    s.config
        .client()
        .query(
            "INSERT INTO calls (call_key, trunk_id, customer_id, direction, caller, callee, \
             disposition, invite_ms, end_ms, billable_ms) \
             SELECT 'not-utf8', 't1', 'acme', 'outbound', '+33140000000', unhex('FF41'), \
             'answered', 1792404000000, 1792404060000, 60000",
        )
        .execute()
        .await
        .unwrap();
    let error = run(&RunOptions {
        force: true,
        ..s.options(&s.dir.path().join("again"))
    })
    .await
    .err()
    .expect("a callee that is not UTF-8 stops the run");
    let text = error.to_string();
    assert!(
        text.contains("call not-utf8: callee is not UTF-8"),
        "{text}"
    );
}
