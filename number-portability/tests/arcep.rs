//! ARCEP imports from the fixtures in `tests/fixtures/arcep` (Latin-1, `;`, CRLF,
//! one bad row per file) and the queries on the imported data.

use std::path::{Path, PathBuf};

use number_portability::arcep::{ArcepData, ArcepError, FileKind, ImportReport};
use number_portability::{parse, E164};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arcep")
}

fn imported() -> (ArcepData, Vec<ImportReport>) {
    ArcepData::import_dir(&fixtures()).unwrap()
}

fn e164(s: &str) -> E164 {
    *parse(s).unwrap().as_e164().unwrap()
}

fn report(reports: &[ImportReport], kind: FileKind) -> &ImportReport {
    reports.iter().find(|r| r.kind == kind).unwrap()
}

#[test]
fn every_file_imported_with_its_bad_row_reported() {
    let (data, reports) = imported();
    assert_eq!(reports.len(), 5);
    let expect = [
        (FileKind::Majnum, 8, 9, "bad date \"31/13/2019\""),
        (FileKind::Majnfb, 3, 5, "bad range start \"3A49\""),
        (FileKind::Majporta, 2, 4, "empty operator"),
        (FileKind::Majrio, 2, 4, "bad RIO operator code \"3\""),
        (FileKind::Zne, 3, 5, "bad ZABPQ \"1452\""),
    ];
    for (kind, imported, line, reason) in expect {
        let r = report(&reports, kind);
        assert_eq!(r.imported, imported, "{r}");
        assert_eq!(r.bad_rows.len(), 1, "{r}");
        assert_eq!(r.bad_rows[0].line, line, "{r}");
        assert!(r.bad_rows[0].reason.contains(reason), "{r}");
    }
    assert_eq!(data.counts(), (8, 3, 2, 2, 2));
}

#[test]
fn report_display_gives_file_line_and_reason() {
    let (_, reports) = imported();
    let text = report(&reports, FileKind::Majnum).to_string();
    assert!(text.contains("8 row(s) imported, 1 bad row(s)"), "{text}");
    assert!(text.contains("MAJNUM.csv:9: bad date"), "{text}");
}

#[test]
fn operator_holding_the_block() {
    let (data, _) = imported();
    assert_eq!(data.operator_of(&e164("01 45 23 15 00")), Some("FRTE"));
    assert_eq!(data.operator_of(&e164("+33145232999")), Some("SFR0"));
    assert_eq!(data.operator_of(&e164("0612345678")), Some("BOUY"));
    assert_eq!(data.operator_of(&e164("0145233001")), Some("FAIR"));
    assert_eq!(data.operator_of(&e164("0145234000")), None);
    let block = data.block_of(&e164("0145231500")).unwrap();
    assert_eq!(block.ezabpqm, "0145231");
    assert_eq!(block.start, "0145231000");
    assert_eq!(block.end, "0145231999");
    assert_eq!(
        block.assigned_on,
        chrono::NaiveDate::from_ymd_opt(1998, 3, 15)
    );
}

#[test]
fn territory_with_latin1_accents_decoded() {
    let (data, _) = imported();
    assert_eq!(data.territory_of(&e164("0123456789")), None);
    assert_eq!(data.territory_of(&e164("0145231000")), Some("Métropole"));
    assert_eq!(
        data.territory_of(&e164("+262692123456")),
        Some("La Réunion")
    );
    assert_eq!(data.territory_of(&e164("0269612345")), Some("Mayotte"));
    assert_eq!(
        data.territory_of(&e164("+508411234")),
        Some("Saint-Pierre-et-Miquelon")
    );
}

#[test]
fn zne_of_a_number() {
    let (data, _) = imported();
    let zne = data.zne_of(&e164("01 45 23 12 34")).unwrap();
    assert_eq!(zne.code, "75056");
    assert_eq!(zne.name, "Paris");
    let communes: Vec<&str> = zne.communes.iter().map(|c| c.insee.as_str()).collect();
    assert_eq!(communes, vec!["75101", "75102"]);
    assert_eq!(data.zne_of(&e164("+262262123456")).unwrap().code, "97411");
    assert!(data.zne_of(&e164("0299999999")).is_none());
    assert!(data.zne_of(&e164("+32470123456")).is_none());
}

#[test]
fn short_numbers_rio_codes_and_porting_prefixes() {
    let (data, _) = imported();
    let s = parse("3949").unwrap();
    assert_eq!(
        data.short_number(s.as_short().unwrap()).unwrap().operator,
        "FRTE"
    );
    let rio = data.rio_operator("02").unwrap();
    assert_eq!(rio.operator, "SFR0");
    assert_eq!(rio.name, "Société française du radiotéléphone");
    assert!(data.rio_operator("03").is_none());
    assert_eq!(data.porting_prefix("10002").unwrap().operator, "SFR0");
    assert!(data.porting_prefix("10003").is_none());
}

#[test]
fn utf8_file_with_renamed_columns_and_missing_column() {
    let mut data = ArcepData::new();
    let utf8 = "\u{feff}\"MNEMO\";\"TRANCHE_DEBUT\";\"TRANCHE_FIN\";\"TERRITOIRE\"\n\"FREE\";\"0756000000\";\"0756999999\";\"Métropole\"\n";
    let r = data.import(
        FileKind::Majnum,
        Path::new("majnum-utf8.csv"),
        utf8.as_bytes(),
    );
    assert_eq!((r.imported, r.bad_rows.len()), (1, 0), "{r}");
    assert_eq!(data.operator_of(&e164("0756123456")), Some("FREE"));

    let r = data.import(
        FileKind::Majnum,
        Path::new("x.csv"),
        b"EZABPQM;Tranche_Debut\n01;0100000000\n",
    );
    assert_eq!(r.imported, 0);
    assert_eq!(r.bad_rows[0].line, 1);
    assert!(
        r.bad_rows[0].reason.contains("missing column(s) operator"),
        "{r}"
    );
}

#[test]
fn directory_errors() {
    let empty = tempfile::tempdir().unwrap();
    let err = ArcepData::import_dir(empty.path()).unwrap_err();
    assert!(matches!(err, ArcepError::NoFiles(_)));
    assert!(err.to_string().contains("expected MAJNUM.csv"), "{err}");
    let err = ArcepData::import_dir(&empty.path().join("missing")).unwrap_err();
    assert!(matches!(err, ArcepError::Io { .. }));
}
