//! ARCEP open numbering data: import of the published files and the queries the
//! other components ask of them.
//!
//! Files, as ARCEP publishes them (ISO-8859-1, `;` separated, quoted fields,
//! `DD/MM/YYYY` dates), recognised by file name in a directory:
//!
//! | file | content | columns used (by header name) |
//! |---|---|---|
//! | `MAJNUM*.csv` | number blocks and the operator they are assigned to | `EZABPQM`, `Tranche_Debut`, `Tranche_Fin`, `Mnémo`, `Territoire`, `Date_Attribution` |
//! | `MAJNFB*.csv` | short and special numbers (emergency, 3BPQ, 118XYZ...) | as MAJNUM, or a single `Numéro` column |
//! | `MAJPORTA*.csv` | routing prefixes of ported numbers | `Code_Portabilite`/`Préfixe`/`EZABPQM`, `Mnémo`, `Date_Attribution` |
//! | `MAJRIO*.csv` | fixed-line RIO operator codes | `Ressource`/`Code_RIO`, `Code Attributaire`/`Mnémo`, `Attributaire`, `Date d'effet (attribution)` |
//! | `*ZNE*.csv` | ZABPQ → ZNE → communes | `ZABPQ`, `ZNE`/`Code_ZNE`, `Libellé_ZNE`, `Code_INSEE`, `Commune` |
//!
//! Range bounds are kept as the strings ARCEP wrote (leading zeros, 4 to 14 digits);
//! a number matches a range of its own length. Each bad row is reported with its line
//! number and the import goes on ([`ImportReport`]).
//!
//! Lookups: ranges are indexed by (length, start) in a B-tree, O(log blocks); codes
//! and prefixes in hash maps.

pub(crate) mod reader;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::number::{ShortCode, E164};
use reader::{date, decode, digits, read_rows, Column};

/// The ARCEP files this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FileKind {
    /// MAJNUM: blocks of numbers and their operator.
    Majnum,
    /// MAJNFB: short and special numbers.
    Majnfb,
    /// MAJPORTA: routing prefixes of ported numbers.
    Majporta,
    /// MAJRIO: fixed-line RIO operator codes.
    Majrio,
    /// ZABPQ → ZNE → communes correspondence.
    Zne,
}

impl FileKind {
    /// Recognises a file by name (case-insensitive): `MAJNUM.csv`, `majnum-2024.csv`,
    /// `ZABPQ-ZNE.csv`...
    pub fn from_file_name(name: &str) -> Option<FileKind> {
        let upper = name.to_ascii_uppercase();
        if !upper.ends_with(".CSV") {
            return None;
        }
        [
            ("MAJNUM", FileKind::Majnum),
            ("MAJNFB", FileKind::Majnfb),
            ("MAJPORTA", FileKind::Majporta),
            ("MAJRIO", FileKind::Majrio),
        ]
        .into_iter()
        .find(|(p, _)| upper.starts_with(p))
        .map(|(_, k)| k)
        .or_else(|| upper.contains("ZNE").then_some(FileKind::Zne))
    }

    /// `MAJNUM`, `MAJNFB`, `MAJPORTA`, `MAJRIO`, `ZNE`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Majnum => "MAJNUM",
            FileKind::Majnfb => "MAJNFB",
            FileKind::Majporta => "MAJPORTA",
            FileKind::Majrio => "MAJRIO",
            FileKind::Zne => "ZNE",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// Why, lowercase, naming the bad value.
    pub reason: String,
}

/// What one file's import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Which file.
    pub kind: FileKind,
    /// Its path or name.
    pub path: PathBuf,
    /// Rows imported.
    pub imported: usize,
    /// Rows refused, in file order.
    pub bad_rows: Vec<BadRow>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} row(s) imported, {} bad row(s)",
            self.path.display(),
            self.kind,
            self.imported,
            self.bad_rows.len()
        )?;
        for b in &self.bad_rows {
            write!(f, "\n  {}:{}: {}", self.path.display(), b.line, b.reason)?;
        }
        Ok(())
    }
}

/// An import that could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArcepError {
    /// A directory or file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory has no file this module recognises.
    #[error(
        "no ARCEP file in {}: expected MAJNUM.csv, MAJNFB.csv, MAJPORTA.csv, MAJRIO.csv or a *ZNE*.csv file",
        .0.display()
    )]
    NoFiles(PathBuf),
}

/// A range of numbers (MAJNUM block or MAJNFB short-number range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The EZABPQM block identifier (empty when the file has none).
    pub ezabpqm: String,
    /// First number of the range, as written (national digits with leading zeros).
    pub start: String,
    /// Last number of the range, same length as `start`.
    pub end: String,
    /// Mnemonic code of the operator the range is assigned to (`FRTE`, `SFR0`...).
    pub operator: String,
    /// Territory as ARCEP names it (`Métropole`, `La Réunion`...).
    pub territory: String,
    /// Date of assignment.
    pub assigned_on: Option<NaiveDate>,
}

/// A MAJPORTA routing prefix of ported numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortingPrefix {
    /// The routing prefix.
    pub prefix: String,
    /// Mnemonic code of the operator it routes to.
    pub operator: String,
    /// Date of assignment.
    pub assigned_on: Option<NaiveDate>,
}

/// A MAJRIO fixed-line RIO operator code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RioOperator {
    /// The 2-character operator code that starts a RIO.
    pub code: String,
    /// Mnemonic code of the operator.
    pub operator: String,
    /// Operator name.
    pub name: String,
    /// Date the code took effect.
    pub assigned_on: Option<NaiveDate>,
}

/// A commune of a ZNE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commune {
    /// INSEE code.
    pub insee: String,
    /// Name.
    pub name: String,
}

/// A ZNE (zone de numérotation élémentaire) as reached from a ZABPQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zne {
    /// ZNE code.
    pub code: String,
    /// ZNE name, when the file gives one.
    pub name: String,
    /// Communes listed for this ZABPQ.
    pub communes: Vec<Commune>,
}

/// Ranges indexed by (digit count, start).
#[derive(Debug, Clone, Default)]
struct Ranges {
    rows: Vec<Block>,
    index: BTreeMap<(usize, u64), usize>,
}

impl Ranges {
    fn push(&mut self, b: Block) -> Result<(), String> {
        let start: u64 = b
            .start
            .parse()
            .map_err(|_| format!("bad start {:?}", b.start))?;
        self.index.insert((b.start.len(), start), self.rows.len());
        self.rows.push(b);
        Ok(())
    }

    fn find(&self, number: &str) -> Option<&Block> {
        let n: u64 = number.parse().ok()?;
        let (&(len, _), &i) = self.index.range(..=(number.len(), n)).next_back()?;
        let b = &self.rows[i];
        (len == number.len() && b.end.parse::<u64>().ok()? >= n).then_some(b)
    }
}

/// Imported ARCEP data and the lookups on it.
#[derive(Debug, Clone, Default)]
pub struct ArcepData {
    blocks: Ranges,
    short_numbers: Ranges,
    porting: HashMap<String, PortingPrefix>,
    rio: HashMap<String, RioOperator>,
    zne: HashMap<String, Zne>,
}

const OPERATOR: &[&str] = &["mnemo", "codeattributaire", "codeoperateur", "operateur"];
const DATE: &[&str] = &["dateattribution", "datedeffetattribution", "date"];

impl ArcepData {
    /// An empty data set.
    pub fn new() -> ArcepData {
        ArcepData::default()
    }

    /// Imports every recognised file of `dir` ([`FileKind::from_file_name`]), in file
    /// name order; other files are ignored.
    ///
    /// # Errors
    ///
    /// [`ArcepError`] when the directory or a file cannot be read, or holds no ARCEP
    /// file. Bad rows are not errors: they are in the reports.
    pub fn import_dir(dir: &Path) -> Result<(ArcepData, Vec<ImportReport>), ArcepError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ArcepError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(kind) = FileKind::from_file_name(&name) {
                files.push((name, kind, entry.path()));
            }
        }
        if files.is_empty() {
            return Err(ArcepError::NoFiles(dir.to_owned()));
        }
        files.sort();
        let mut data = ArcepData::new();
        let mut reports = Vec::new();
        for (_, kind, path) in files {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            reports.push(data.import(kind, &path, &bytes));
        }
        Ok((data, reports))
    }

    /// Imports one file's bytes (ISO-8859-1 or UTF-8), adding to what is loaded.
    pub fn import(&mut self, kind: FileKind, path: &Path, bytes: &[u8]) -> ImportReport {
        let text = decode(bytes);
        let mut bad = Vec::new();
        let imported = match kind {
            FileKind::Majnum => import_ranges(&text, &mut bad, &mut self.blocks, 4, 14),
            FileKind::Majnfb => import_ranges(&text, &mut bad, &mut self.short_numbers, 2, 14),
            FileKind::Majporta => self.import_porting(&text, &mut bad),
            FileKind::Majrio => self.import_rio(&text, &mut bad),
            FileKind::Zne => self.import_zne(&text, &mut bad),
        };
        ImportReport {
            kind,
            path: path.to_owned(),
            imported,
            bad_rows: bad,
        }
    }

    fn import_porting(&mut self, text: &str, bad: &mut Vec<BadRow>) -> usize {
        let cols = [
            Column {
                role: "routing prefix",
                names: &[
                    "codeportabilite",
                    "prefixeportabilite",
                    "prefixe",
                    "ezabpqm",
                    "code",
                ],
                required: true,
            },
            Column {
                role: "operator",
                names: OPERATOR,
                required: true,
            },
            Column {
                role: "date",
                names: DATE,
                required: false,
            },
        ];
        read_rows(text, &cols, bad, |_, v| {
            if v[0].is_empty()
                || v[0].len() > 14
                || !v[0].bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(format!(
                    "bad routing prefix {:?}: 1 to 14 letters or digits expected",
                    v[0]
                ));
            }
            if v[1].is_empty() {
                return Err("empty operator".into());
            }
            let p = PortingPrefix {
                prefix: v[0].to_owned(),
                operator: v[1].to_owned(),
                assigned_on: date(v[2])?,
            };
            self.porting.insert(p.prefix.clone(), p);
            Ok(())
        })
    }

    fn import_rio(&mut self, text: &str, bad: &mut Vec<BadRow>) -> usize {
        let cols = [
            Column {
                role: "RIO operator code",
                names: &["ressource", "coderio", "codeoperateurrio", "code"],
                required: true,
            },
            Column {
                role: "operator",
                names: &["codeattributaire", "mnemo", "codeoperateur"],
                required: true,
            },
            Column {
                role: "name",
                names: &["attributaire", "identiteoperateur", "nom"],
                required: false,
            },
            Column {
                role: "date",
                names: DATE,
                required: false,
            },
        ];
        read_rows(text, &cols, bad, |_, v| {
            let code = v[0];
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "bad RIO operator code {code:?}: 2 letters or digits expected"
                ));
            }
            if v[1].is_empty() {
                return Err("empty operator".into());
            }
            let r = RioOperator {
                code: code.to_ascii_uppercase(),
                operator: v[1].to_owned(),
                name: v[2].to_owned(),
                assigned_on: date(v[3])?,
            };
            self.rio.insert(r.code.clone(), r);
            Ok(())
        })
    }

    fn import_zne(&mut self, text: &str, bad: &mut Vec<BadRow>) -> usize {
        let cols = [
            Column {
                role: "ZABPQ",
                names: &["zabpq"],
                required: true,
            },
            Column {
                role: "ZNE",
                names: &["zne", "codezne"],
                required: true,
            },
            Column {
                role: "ZNE name",
                names: &["libellezne", "nomzne"],
                required: false,
            },
            Column {
                role: "INSEE code",
                names: &["codeinsee", "insee", "codecommune"],
                required: false,
            },
            Column {
                role: "commune",
                names: &["commune", "nomcommune", "libellecommune"],
                required: false,
            },
        ];
        read_rows(text, &cols, bad, |_, v| {
            digits("ZABPQ", v[0], 5, 5)?;
            if v[1].is_empty() {
                return Err("empty ZNE".into());
            }
            let zne = self.zne.entry(v[0].to_owned()).or_insert_with(|| Zne {
                code: v[1].to_owned(),
                name: v[2].to_owned(),
                communes: Vec::new(),
            });
            if zne.code != v[1] {
                return Err(format!(
                    "ZABPQ {} already belongs to ZNE {:?}, not {:?}",
                    v[0], zne.code, v[1]
                ));
            }
            if !v[3].is_empty() || !v[4].is_empty() {
                zne.communes.push(Commune {
                    insee: v[3].to_owned(),
                    name: v[4].to_owned(),
                });
            }
            Ok(())
        })
    }

    /// The MAJNUM block holding a number given as national digits (`0123456789`).
    pub fn block_of_national(&self, national: &str) -> Option<&Block> {
        self.blocks.find(national)
    }

    /// The MAJNUM block holding a number of the French plan (overseas included).
    pub fn block_of(&self, n: &E164) -> Option<&Block> {
        self.block_of_national(&crate::default_plan().to_national(n)?)
    }

    /// The operator (ARCEP mnemonic) holding the block of a number. For ported numbers
    /// this is the block holder, not the serving operator.
    pub fn operator_of(&self, n: &E164) -> Option<&str> {
        self.block_of(n).map(|b| b.operator.as_str())
    }

    /// The territory (`Métropole`, `La Réunion`...) of a number's block.
    pub fn territory_of(&self, n: &E164) -> Option<&str> {
        self.block_of(n).map(|b| b.territory.as_str())
    }

    /// The ZNE of a geographic number, from its ZABPQ (national digits 2 to 6).
    pub fn zne_of(&self, n: &E164) -> Option<&Zne> {
        let national = crate::default_plan().to_national(n)?;
        self.zne.get(national.get(1..6)?)
    }

    /// The ZNE of a ZABPQ (`14523`).
    pub fn zne_of_zabpq(&self, zabpq: &str) -> Option<&Zne> {
        self.zne.get(zabpq)
    }

    /// The MAJNFB entry of a short number.
    pub fn short_number(&self, s: &ShortCode) -> Option<&Block> {
        self.short_numbers.find(s.as_str())
    }

    /// The operator a MAJPORTA routing prefix routes to.
    pub fn porting_prefix(&self, prefix: &str) -> Option<&PortingPrefix> {
        self.porting.get(prefix)
    }

    /// The operator of a RIO operator code (the first 2 characters of a RIO).
    pub fn rio_operator(&self, code: &str) -> Option<&RioOperator> {
        self.rio.get(&code.to_ascii_uppercase())
    }

    /// Counts of what is loaded: (blocks, short numbers, porting prefixes, RIO codes,
    /// ZABPQ).
    pub fn counts(&self) -> (usize, usize, usize, usize, usize) {
        (
            self.blocks.rows.len(),
            self.short_numbers.rows.len(),
            self.porting.len(),
            self.rio.len(),
            self.zne.len(),
        )
    }
}

/// MAJNUM / MAJNFB rows into `ranges`.
fn import_ranges(
    text: &str,
    bad: &mut Vec<BadRow>,
    ranges: &mut Ranges,
    min: usize,
    max: usize,
) -> usize {
    let cols = [
        Column {
            role: "EZABPQM",
            names: &["ezabpqm"],
            required: false,
        },
        Column {
            role: "range start",
            names: &["tranchedebut", "debut", "numero", "numerocourt"],
            required: true,
        },
        Column {
            role: "range end",
            names: &["tranchefin", "fin"],
            required: false,
        },
        Column {
            role: "operator",
            names: OPERATOR,
            required: true,
        },
        Column {
            role: "territory",
            names: &["territoire"],
            required: false,
        },
        Column {
            role: "date",
            names: DATE,
            required: false,
        },
    ];
    read_rows(text, &cols, bad, |_, v| {
        let start = v[1];
        let end = if v[2].is_empty() { start } else { v[2] };
        digits("range start", start, min, max)?;
        digits("range end", end, min, max)?;
        if start.len() != end.len() {
            return Err(format!("range {start}-{end}: bounds of different lengths"));
        }
        if end < start {
            return Err(format!("range {start}-{end}: end before start"));
        }
        if !v[0].is_empty() {
            digits("EZABPQM", v[0], 1, 14)?;
        }
        if v[3].is_empty() {
            return Err("empty operator".into());
        }
        ranges.push(Block {
            ezabpqm: v[0].to_owned(),
            start: start.to_owned(),
            end: end.to_owned(),
            operator: v[3].to_owned(),
            territory: v[4].to_owned(),
            assigned_on: date(v[5])?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_file_names() {
        assert_eq!(
            FileKind::from_file_name("MAJNUM.csv"),
            Some(FileKind::Majnum)
        );
        assert_eq!(
            FileKind::from_file_name("majnum_2024.CSV"),
            Some(FileKind::Majnum)
        );
        assert_eq!(
            FileKind::from_file_name("MAJPORTA.csv"),
            Some(FileKind::Majporta)
        );
        assert_eq!(
            FileKind::from_file_name("ZABPQ-ZNE.csv"),
            Some(FileKind::Zne)
        );
        assert_eq!(FileKind::from_file_name("MAJNUM.xls"), None);
        assert_eq!(FileKind::from_file_name("notes.csv"), None);
    }

    #[test]
    fn ranges_match_only_numbers_of_their_length() {
        let mut r = Ranges::default();
        let block = |s: &str, e: &str| Block {
            ezabpqm: String::new(),
            start: s.into(),
            end: e.into(),
            operator: "OP".into(),
            territory: String::new(),
            assigned_on: None,
        };
        r.push(block("0123450000", "0123459999")).unwrap();
        r.push(block("3900", "3999")).unwrap();
        assert!(r.find("0123455555").is_some());
        assert!(r.find("0123460000").is_none());
        assert!(r.find("0123449999").is_none());
        assert!(r.find("3949").is_some());
        assert!(r.find("39490").is_none());
        assert!(r.find("").is_none());
    }

    #[test]
    fn range_rows_validated() {
        let mut r = Ranges::default();
        let mut bad = Vec::new();
        let text = "Tranche_Debut;Tranche_Fin;Mnémo\n0100000000;0100009999;A\n\
                    0100;0100009999;B\n0200009999;0200000000;C\n01000x0000;0100009999;D\n0300000000;0300000001;\n";
        let n = import_ranges(text, &mut bad, &mut r, 4, 14);
        assert_eq!(n, 1);
        let lines: Vec<u64> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
        assert!(bad[0].reason.contains("different lengths"));
        assert!(bad[1].reason.contains("end before start"));
        assert!(bad[2].reason.contains("\"01000x0000\""));
        assert!(bad[3].reason.contains("empty operator"));
    }
}
