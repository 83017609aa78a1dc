//! The `inventory`, `port-in`, `port-out`, `rio` and `serving` commands: output,
//! exit codes (0 done, 1 refused, 2 could not run), files written.

use std::path::Path;
use std::process::{Command, Output};

use crate::inventory::sample_copy;

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_number-portability"))
        .args(args)
        .env("FAIRTRUNK_PROVISIONING", dir)
        .env("USER", "cli-test")
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn help_names_the_commands() {
    let dir = sample_copy();
    let o = run(dir.path(), &["--help"]);
    let help = out(&o);
    for cmd in ["inventory", "port-in", "port-out", "rio", "serving"] {
        assert!(help.contains(cmd), "{cmd}: {help}");
    }
    let o = run(dir.path(), &["inventory", "release", "--help"]);
    assert!(
        out(&o).contains("quarantined for quarantine_days"),
        "{}",
        out(&o)
    );
    let o = run(dir.path(), &["port-in", "reject", "--help"]);
    assert!(out(&o).contains("rio_inconsistent"), "{}", out(&o));
}

#[test]
fn sample_inventory_checks_clean() {
    let dir = sample_copy();
    let o = run(dir.path(), &["inventory", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).starts_with("ok: 23 row(s), 527 number(s), 3 port request(s)"),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("checked against ARCEP data"));
}

#[test]
fn assign_release_and_history() {
    let dir = sample_copy();
    let d = dir.path();
    let o = run(
        d,
        &[
            "inventory",
            "assign",
            "0145233300..0145233309",
            "--customer",
            "contoso",
            "--trunk",
            "contoso-teams",
            "--reason",
            "order 99",
            "--date",
            "2026-11-23",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "assign +33145233300..+33145233309: available -> assigned (contoso, contoso-teams, la-defense)\n"
    );
    assert!(read(d, "numbers/inventory.csv").contains(
        "+33145233300..+33145233309,assigned,own,contoso,contoso-teams,la-defense,2026-11-23,,\n"
    ));
    let journal = read(d, "numbers/journal.csv");
    let last = journal.lines().last().unwrap();
    assert!(last.contains(",cli-test,assign,+33145233300..+33145233309,available,assigned,2026-11-23,contoso,contoso-teams,la-defense,,order 99"), "{last}");

    // Double assignment: refused, exit 1, files untouched.
    let before = read(d, "numbers/inventory.csv");
    let o = run(
        d,
        &[
            "inventory",
            "assign",
            "+33145233305",
            "--customer",
            "acme",
            "--trunk",
            "acme-multisite",
            "--site",
            "lyon",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("+33145233305: held by customer \"contoso\" (assigned)"),
        "{}",
        err(&o)
    );
    assert_eq!(read(d, "numbers/inventory.csv"), before);

    let o = run(
        d,
        &["inventory", "release", "0145233305", "--date", "2026-11-24"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = run(d, &["inventory", "list", "--state", "quarantined"]);
    assert!(
        out(&o).contains(
            "+33145233305,quarantined,own,contoso,contoso-teams,la-defense,2026-11-24,2027-02-22,"
        ),
        "{}",
        out(&o)
    );
    let o = run(d, &["inventory", "history", "+33145233305"]);
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out(&o));
    assert!(lines[1].contains(",add,+33145233300..+33145233399,"));
    assert!(lines[3].contains(",release,+33145233305,assigned,quarantined,"));
    let o = run(d, &["inventory", "lookup", "0145233305", "0145233306"]);
    assert!(
        out(&o).contains(
            "0145233306,+33145233306,assigned,contoso,contoso-teams,la-defense,+33145233306,yes,"
        ),
        "{}",
        out(&o)
    );
    // The provisioning check still passes with the files written.
    provisioning::Provisioning::load(d).unwrap();
}

#[test]
fn port_in_and_port_out_from_the_command_line() {
    let dir = sample_copy();
    let d = dir.path();
    // Valid SFR RIO for 0145232100 (see tests/porting.rs).
    let rio = format!(
        "02FAB1234{}",
        number_portability::rio::rio_key("02FAB1234", "0145232100").unwrap()
    );
    let o = run(
        d,
        &[
            "port-in",
            "create",
            "0145232100",
            "--customer",
            "acme",
            "--trunk",
            "acme-multisite",
            "--site",
            "paris-hq",
            "--rio",
            &rio,
            "--date",
            "2026-11-23",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).starts_with("port_in.create PI-2026-0003: (none) -> draft"),
        "{}",
        out(&o)
    );
    for (args, code) in [
        (vec!["port-in", "accept", "PI-2026-0003"], 1),
        (vec!["port-in", "submit", "PI-2026-0003"], 0),
        (vec!["port-in", "accept", "PI-2026-0003"], 0),
        (
            vec![
                "port-in",
                "schedule",
                "PI-2026-0003",
                "--port-date",
                "2026-12-25",
            ],
            1,
        ),
        (
            vec![
                "port-in",
                "schedule",
                "PI-2026-0003",
                "--port-date",
                "2026-11-25",
            ],
            0,
        ),
        (vec!["port-out", "complete", "PI-2026-0003"], 1),
        (
            vec![
                "port-in",
                "complete",
                "PI-2026-0003",
                "--date",
                "2026-11-25",
            ],
            0,
        ),
    ] {
        // Every step is dated (the day after the request was created), so the
        // test does not depend on the day it runs.
        let mut args = args;
        if !args.contains(&"--date") {
            args.extend(["--date", "2026-11-24"]);
        }
        let o = run(d, &args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{args:?}: {}{}",
            out(&o),
            err(&o)
        );
    }
    let o = run(d, &["port-in", "show", "PI-2026-0003"]);
    assert!(out(&o).contains("state       completed"), "{}", out(&o));
    assert!(
        out(&o).contains("port_in.complete +33145232100: porting_in -> assigned"),
        "{}",
        out(&o)
    );
    let o = run(d, &["inventory", "lookup", "0145232100"]);
    assert!(
        out(&o).contains(",assigned,acme,acme-multisite,paris-hq,+33145232100,yes,"),
        "{}",
        out(&o)
    );

    // A port-out without RIO is recorded and rejected at once: exit 1.
    let o = run(
        d,
        &["port-out", "create", "0240990000", "--recipient", "FRTE"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("PO-2026-0002 rejected: rio_missing"),
        "{}",
        err(&o)
    );
    let o = run(d, &["port-out", "list", "--state", "rejected"]);
    assert!(
        out(&o).contains("PO-2026-0002,out,rejected,boulangerie-martin"),
        "{}",
        out(&o)
    );
    // With the RIO the provider issued: accepted for processing.
    let o = run(d, &["rio", "issue", "0240990000"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let rio = out(&o).trim().to_owned();
    let o = run(
        d,
        &[
            "port-out",
            "create",
            "0240990000",
            "--recipient",
            "FRTE",
            "--rio",
            &rio,
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        out(&o).contains("+33240990000: assigned -> porting_out"),
        "{}",
        out(&o)
    );
    let o = run(d, &["inventory", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
}

#[test]
fn rio_check_exit_codes() {
    let dir = sample_copy();
    let o = run(
        dir.path(),
        &["rio", "check", "01P12345636Q", "06 12 34 56 78"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out(&o).starts_with("ok: RIO 01P12345636Q matches 0612345678"),
        "{}",
        out(&o)
    );
    let o = run(dir.path(), &["rio", "check", "01P12345636Q", "0612345679"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("key 36Q does not match number 0612345679 (expected"),
        "{}",
        err(&o)
    );
    let o = run(dir.path(), &["rio", "check", "01P123", "0612345678"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("6 characters where a RIO has 12"),
        "{}",
        err(&o)
    );
}

#[test]
fn serving_operator_csv() {
    let dir = sample_copy();
    let list = dir.path().join("ported.csv");
    std::fs::write(&list, "Numero;Code_Portabilite\n0145232500;10001\n").unwrap();
    let o = run(
        dir.path(),
        &[
            "serving",
            "0145232500",
            "0145232501",
            "0145233142",
            "0145233050",
            "--ported",
            list.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "input,e164,operator,served_by,routing_prefix,error\n\
         0145232500,+33145232500,FRTE,ported_list,10001,\n\
         0145232501,+33145232501,SFR0,block_holder,,\n\
         0145233142,+33145233142,FAIR,provider,,\n\
         0145233050,+33145233050,SFR0,ported_out,,\n"
    );
}

#[test]
fn files_that_cannot_be_used_exit_2() {
    let dir = sample_copy();
    let d = dir.path();
    let o = Command::new(env!("CARGO_BIN_EXE_number-portability"))
        .args(["inventory", "list"])
        .env_remove("FAIRTRUNK_PROVISIONING")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--provisioning DIR is required"),
        "{}",
        err(&o)
    );

    let mut text = read(d, "numbers/inventory.csv");
    // Lines as the sample has them (other parts of the system add sample numbers).
    let first = 1 + text
        .lines()
        .position(|l| l.starts_with("+33145233000,"))
        .unwrap();
    let appended = text.lines().count() + 1;
    text.push_str("+33145233000,assigned,own,acme,acme-multisite,paris-hq,2024-01-15,,\n");
    std::fs::write(d.join("numbers/inventory.csv"), text).unwrap();
    let o = run(
        d,
        &[
            "inventory",
            "assign",
            "0145233300",
            "--customer",
            "acme",
            "--trunk",
            "acme-multisite",
            "--site",
            "lyon",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let duplicate = format!("numbers/inventory.csv:{appended}: number \"+33145233000\": number: duplicate row (first at line {first})");
    assert!(err(&o).contains(&duplicate), "{}", err(&o));
    // The lock was released even though the command failed.
    assert!(!d.join("numbers/.lock").exists());

    let dir = sample_copy();
    std::fs::write(dir.path().join("numbers/.lock"), "12345\n").unwrap();
    let o = run(dir.path(), &["inventory", "release", "0145233000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("another number-portability command (process 12345)"),
        "{}",
        err(&o)
    );
}
