//! The `number-portability` binary: output format, exit codes, help.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_number-portability"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fixtures() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/arcep")
        .display()
        .to_string()
}

#[test]
fn classify_arguments_as_csv() {
    let o = run(&[
        "classify",
        "01 23 45 67 89",
        "0639123456",
        "112",
        "+32470123456",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        stdout(&o),
        "input,e164,country,category,region,operator,error\n\
         01 23 45 67 89,+33123456789,FR,fixed_geographic,ile_de_france,,\n\
         0639123456,+262639123456,YT,mobile,YT,,\n\
         112,,FR,emergency,,,\n\
         +32470123456,+32470123456,BE,mobile,,,\n"
    );
}

#[test]
fn invalid_numbers_reported_and_exit_1() {
    let o = run(&["classify", "0123", "0612345678"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[1].starts_with("0123,,,,,,too short: 3 digits"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("0612345678,+33612345678,FR,mobile"),
        "{out}"
    );
}

#[test]
fn classify_from_stdin_with_operator() {
    let mut child = bin()
        .args(["classify", "--arcep", &fixtures()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sip:+33145231500@sbc.example.com;user=phone\r\n\r\n3949\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    assert!(
        out.contains("sip:+33145231500@sbc.example.com;user=phone,+33145231500,FR,fixed_geographic,ile_de_france,FRTE,\n"),
        "{out}"
    );
    assert!(out.contains("3949,,FR,short_number,,FRTE,\n"), "{out}");
    assert_eq!(out.lines().count(), 3, "blank line skipped: {out}");
    // The fixtures' bad rows are reported on stderr.
    assert!(String::from_utf8_lossy(&o.stderr).contains("MAJNUM.csv:9"));
}

#[test]
fn classify_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("numbers.txt");
    std::fs::write(&path, "0800123456\n0899123456\n").unwrap();
    let o = run(&["classify", "--file", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains(",special_free,"), "{out}");
    assert!(out.contains(",special_premium,"), "{out}");
}

#[test]
fn arcep_import_summary_and_bad_rows() {
    let o = run(&["arcep", "import", &fixtures()]);
    assert_eq!(o.status.code(), Some(1), "bad rows give exit 1");
    let out = stdout(&o);
    assert!(
        out.contains("MAJNUM.csv:9: bad date \"31/13/2019\""),
        "{out}"
    );
    assert!(
        out.contains(
            "imported 8 number block(s), 3 short number range(s), 2 porting prefix(es), \
         2 RIO operator code(s), 2 ZABPQ; 5 bad row(s)"
        ),
        "{out}"
    );
}

#[test]
fn fatal_errors_exit_2_with_a_message() {
    let o = run(&["arcep", "import", "/nonexistent/arcep"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/arcep"));
    let o = run(&["--default-country", "ZZ", "classify", "0123456789"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("default country \"ZZ\""));
}

#[test]
fn default_country_option() {
    let o = run(&["--default-country", "BE", "classify", "0470123456"]);
    assert!(
        stdout(&o).contains(",+32470123456,BE,mobile,"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn help_explains_inputs_and_columns() {
    let o = run(&["classify", "--help"]);
    let out = stdout(&o);
    assert!(out.contains("Output columns: input, e164"), "{out}");
    assert!(out.contains("0692... -> +262..."), "{out}");
    let o = run(&["arcep", "import", "--help"]);
    assert!(stdout(&o).contains("MAJNUM"), "{}", stdout(&o));
}
