//! Reject files: every refused row, in the format it came in, with two more fields,
//! `line` (where the row starts in the input) and `reason` (`<reason>: <message>`).
//!
//! - CSV inputs give a CSV file with the input's delimiter, quoting and encoding, the
//!   input's header plus `line,reason` (no header when the input had none; the two
//!   fields are then the last two columns). Importing a corrected reject file with the
//!   same format works: the extra columns are ignored.
//! - JSON inputs give JSON lines: each row's object with `line` and `reason` added, or
//!   `{"line", "reason", "text"}` when the row was not a JSON object.
//!
//! The file is `<reject dir>/<input stem>.rejects.<ext>` (`.jsonl` for JSON), created
//! on the first reject only, so a clean import leaves nothing behind. Within one run
//! [`RejectNames`] gives every input its own file: when that name is already taken by
//! another input's rejects (`a/teams.json` and `b/teams.json`, `c.json` and `c.jsonl`,
//! `t.csv` and `t.csv.gz`) or is one of the run's inputs, the stem gets `-2`, `-3`, …
//! (`teams-2.rejects.jsonl`). A later run starts afresh, so re-importing one fixed file
//! overwrites that file's previous rejects.

use crate::draft::RowError;
use crate::mapping::Encoding;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The reject files of one run: hands each input a file no other input of the run
/// writes, and never one of the run's inputs.
#[derive(Debug, Default)]
pub struct RejectNames {
    /// The run's inputs, as absolute paths where they resolve.
    inputs: HashSet<PathBuf>,
    /// Reject files already given out.
    taken: Mutex<HashSet<PathBuf>>,
}

impl RejectNames {
    /// Names for a run reading `inputs`.
    pub fn for_inputs(inputs: &[PathBuf]) -> RejectNames {
        RejectNames {
            inputs: inputs.iter().map(|p| resolved(p)).collect(),
            taken: Mutex::default(),
        }
    }

    /// Claims `<dir>/<stem>.rejects.<ext>`, or the first free `<stem>-N.rejects.<ext>`
    /// (N from 2).
    fn claim(&self, dir: &Path, stem: &str, ext: &str) -> PathBuf {
        let mut taken = self
            .taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut candidate = dir.join(format!("{stem}.rejects.{ext}"));
        let mut suffix = 2u64;
        while taken.contains(&candidate) || self.inputs.contains(&resolved(&candidate)) {
            candidate = dir.join(format!("{stem}-{suffix}.rejects.{ext}"));
            suffix += 1;
        }
        taken.insert(candidate.clone());
        candidate
    }
}

/// `path` with its folder made absolute and its links resolved, when it exists, so
/// that two spellings of one file compare equal; `path` itself otherwise.
fn resolved(path: &Path) -> PathBuf {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (folder.canonicalize(), path.file_name()) {
        (Ok(folder), Some(name)) => folder.join(name),
        _ => path.to_path_buf(),
    }
}

enum Output {
    Csv {
        writer: Box<csv::Writer<BufWriter<File>>>,
    },
    Json {
        writer: BufWriter<File>,
    },
}

/// How the input is laid out, for writing its rejects the same way.
#[derive(Clone)]
pub enum RejectLayout {
    /// CSV with this delimiter, quote, encoding and header (raw bytes).
    Csv {
        /// Field delimiter.
        delimiter: u8,
        /// Quote character, if any.
        quote: Option<u8>,
        /// Encoding of the input (and of the reject file).
        encoding: Encoding,
        /// The input's header fields, if it had one.
        header: Option<Vec<Vec<u8>>>,
    },
    /// JSON lines.
    Json,
}

/// The reject file of one input, named and opened on the first reject.
pub struct Rejects<'n> {
    dir: PathBuf,
    stem: String,
    ext: String,
    names: &'n RejectNames,
    /// Set when the file is opened.
    path: Option<PathBuf>,
    layout: RejectLayout,
    /// Fields of a CSV row before `line` and `reason`: the header's count, or the
    /// first row's when the input has no header.
    width: Option<usize>,
    output: Option<Output>,
    written: u64,
}

impl<'n> Rejects<'n> {
    /// Rejects of `input` go to `dir`, under a name claimed from `names`; nothing is
    /// created until the first one.
    pub fn new(dir: &Path, input: &Path, layout: RejectLayout, names: &'n RejectNames) -> Self {
        let (stem, ext) = crate::input::stem_and_extension(input);
        let ext = match layout {
            RejectLayout::Json => "jsonl".to_string(),
            RejectLayout::Csv { .. } => ext.unwrap_or_else(|| "csv".into()),
        };
        Rejects {
            dir: dir.to_path_buf(),
            stem,
            ext,
            names,
            path: None,
            layout,
            width: None,
            output: None,
            written: 0,
        }
    }

    /// Sets the header once the input's first line was read.
    pub fn set_header(&mut self, header: Vec<Vec<u8>>) {
        self.width = Some(header.len());
        if let RejectLayout::Csv { header: h, .. } = &mut self.layout {
            *h = Some(header);
        }
    }

    /// Sets how many fields a row of an input without header has (its first row's),
    /// so that `line` and `reason` always come after that many fields.
    pub fn set_width(&mut self, fields: usize) {
        self.width.get_or_insert(fields);
    }

    /// The file, if any reject was written.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref().filter(|_| self.written > 0)
    }

    fn open(&mut self) -> std::io::Result<&mut Output> {
        if self.output.is_none() {
            let path = self.names.claim(&self.dir, &self.stem, &self.ext);
            std::fs::create_dir_all(&self.dir)?;
            let file = BufWriter::new(File::create(&path)?);
            self.path = Some(path);
            let output = match &self.layout {
                RejectLayout::Csv {
                    delimiter,
                    quote,
                    encoding,
                    header,
                } => {
                    let mut builder = csv::WriterBuilder::new();
                    builder.delimiter(*delimiter).flexible(true);
                    match quote {
                        Some(q) => {
                            builder.quote(*q);
                        }
                        None => {
                            builder.quote_style(csv::QuoteStyle::Never);
                        }
                    }
                    let mut writer = builder.from_writer(file);
                    if let Some(header) = header {
                        let mut fields = header.clone();
                        fields.push(encoding.encode("line"));
                        fields.push(encoding.encode("reason"));
                        writer.write_record(&fields)?;
                    }
                    Output::Csv {
                        writer: Box::new(writer),
                    }
                }
                RejectLayout::Json => Output::Json { writer: file },
            };
            self.output = Some(output);
        }
        Ok(self.output.as_mut().expect("opened above"))
    }

    /// Writes a refused CSV row (its raw fields), laid out as the header (see
    /// [`row_in_width`]) so that `line` and `reason` come under their headers.
    ///
    /// # Errors
    /// When the reject file cannot be written.
    pub fn write_fields(
        &mut self,
        fields: &[&[u8]],
        line: u64,
        error: &RowError,
    ) -> std::io::Result<()> {
        let (encoding, delimiter, quote) = match &self.layout {
            RejectLayout::Csv {
                encoding,
                delimiter,
                quote,
                ..
            } => (*encoding, *delimiter, *quote),
            RejectLayout::Json => (Encoding::Utf8, b',', Some(b'"')),
        };
        let width = self.width;
        let reason = error.to_string();
        match self.open()? {
            Output::Csv { writer } => {
                let mut row = row_in_width(fields, width, delimiter);
                row.push(line.to_string().into_bytes());
                let reason = match quote {
                    Some(_) => reason,
                    None => unquoted_safe(&reason, delimiter),
                };
                row.push(encoding.encode(&reason));
                writer.write_record(&row)?;
            }
            Output::Json { writer } => {
                let text: Vec<String> = fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                let value =
                    serde_json::json!({"line": line, "reason": reason, "text": text.join(",")});
                serde_json::to_writer(&mut *writer, &value)?;
                writer.write_all(b"\n")?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Writes a refused JSON row (its raw text).
    ///
    /// # Errors
    /// When the reject file cannot be written.
    pub fn write_json(&mut self, bytes: &[u8], line: u64, error: &RowError) -> std::io::Result<()> {
        let reason = error.to_string();
        let value = match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(mut object)) => {
                object.insert("line".into(), line.into());
                object.insert("reason".into(), reason.into());
                serde_json::Value::Object(object)
            }
            _ => serde_json::json!({
                "line": line,
                "reason": reason,
                "text": String::from_utf8_lossy(bytes),
            }),
        };
        if let Output::Json { writer } = self.open()? {
            serde_json::to_writer(&mut *writer, &value)?;
            writer.write_all(b"\n")?;
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match &mut self.output {
            Some(Output::Csv { writer }) => writer.flush(),
            Some(Output::Json { writer }) => writer.flush(),
            None => Ok(()),
        }
    }
}

/// A refused row's fields in `width` fields: a short row padded with empty fields, a
/// long one with its surplus fields joined to the last by the delimiter (its text
/// kept, quoted by the writer). Without a known width the fields are kept as they are.
fn row_in_width(fields: &[&[u8]], width: Option<usize>, delimiter: u8) -> Vec<Vec<u8>> {
    let mut row: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
    let Some(width) = width.filter(|w| *w > 0) else {
        return row;
    };
    if row.len() > width {
        let surplus = row.split_off(width);
        let last = row.last_mut().expect("width is at least 1");
        for field in surplus {
            last.push(delimiter);
            last.extend_from_slice(&field);
        }
    }
    row.resize(width, Vec::new());
    row
}

/// `reason` made safe for a file written without quoting: the delimiter (`,` becomes
/// `;`, any other `,`) and line ends would otherwise split the reason into more fields
/// or rows.
fn unquoted_safe(reason: &str, delimiter: u8) -> String {
    let replacement = if delimiter == b',' { ';' } else { ',' };
    reason
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            c if c.is_ascii() && c as u8 == delimiter => replacement,
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::Reason;

    #[test]
    fn csv_rejects_keep_the_layout_and_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let names = RejectNames::default();
        let mut rejects = Rejects::new(
            dir.path(),
            Path::new("/in/calls.txt.gz"),
            RejectLayout::Csv {
                delimiter: b';',
                quote: Some(b'"'),
                encoding: Encoding::Latin1,
                header: None,
            },
            &names,
        );
        assert_eq!(rejects.path(), None);
        rejects.set_header(vec![b"a".to_vec(), b"b".to_vec()]);
        let error = RowError::new(
            Reason::BadNumber,
            "callee: \"0800 FLEURS\" is not a number; é",
        );
        rejects
            .write_fields(&[b"x;y", b"\xe9t\xe9"], 7, &error)
            .unwrap();
        rejects.finish().unwrap();
        let path = rejects.path().unwrap().to_path_buf();
        assert_eq!(path, dir.path().join("calls.rejects.txt"));
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            bytes,
            b"a;b;line;reason\n\"x;y\";\xe9t\xe9;7;\"bad_number: callee: \"\"0800 FLEURS\"\" is not a number; \xe9\"\n".to_vec()
        );
    }

    fn csv_layout(delimiter: u8, quote: Option<u8>) -> RejectLayout {
        RejectLayout::Csv {
            delimiter,
            quote,
            encoding: Encoding::Utf8,
            header: None,
        }
    }

    /// Writes one refused row of `input` and gives the reject file's path.
    fn reject_one(dir: &Path, names: &RejectNames, input: &str) -> PathBuf {
        let layout = if input.contains(".json") {
            RejectLayout::Json
        } else {
            csv_layout(b',', Some(b'"'))
        };
        let mut rejects = Rejects::new(dir, Path::new(input), layout, names);
        let error = RowError::missing("id");
        match input.contains(".json") {
            true => rejects.write_json(b"{}", 1, &error).unwrap(),
            false => rejects.write_fields(&[b"x"], 1, &error).unwrap(),
        }
        rejects.finish().unwrap();
        rejects.path().unwrap().to_path_buf()
    }

    #[test]
    fn inputs_of_one_run_with_one_name_get_their_own_reject_files() {
        let dir = tempfile::tempdir().unwrap();
        let names = RejectNames::default();
        let got: Vec<String> = [
            "in/a/teams.json",
            "in/b/teams.json",
            "in/c.json",
            "in/c.jsonl",
            "in/t.csv",
            "in/t.csv.gz",
            "in/c-2.json",
        ]
        .iter()
        .map(|input| {
            let path = reject_one(dir.path(), &names, input);
            path.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
        assert_eq!(
            got,
            [
                "teams.rejects.jsonl",
                "teams-2.rejects.jsonl",
                "c.rejects.jsonl",
                "c-2.rejects.jsonl",
                "t.rejects.csv",
                "t-2.rejects.csv",
                "c-2-2.rejects.jsonl",
            ]
        );
        // A new run re-importing one file overwrites that file's previous rejects.
        let again = reject_one(dir.path(), &RejectNames::default(), "in/b/teams.json");
        assert_eq!(again, dir.path().join("teams.rejects.jsonl"));
        assert_eq!(
            std::fs::read_to_string(&again).unwrap().lines().count(),
            1,
            "the file was truncated, not appended to"
        );
    }

    #[test]
    fn a_reject_file_never_overwrites_an_input_of_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let fixed = dir.path().join("calls.rejects.csv");
        std::fs::write(&fixed, "id,line,reason\nfixed,3,x\n").unwrap();
        let names = RejectNames::for_inputs(&[PathBuf::from("calls.csv"), fixed.clone()]);
        let path = reject_one(dir.path(), &names, "calls.csv");
        assert_eq!(path, dir.path().join("calls-2.rejects.csv"));
        assert_eq!(
            std::fs::read_to_string(&fixed).unwrap(),
            "id,line,reason\nfixed,3,x\n"
        );
    }

    #[test]
    fn line_and_reason_stay_under_their_headers_whatever_the_row_s_width() {
        let dir = tempfile::tempdir().unwrap();
        let names = RejectNames::default();
        let mut rejects = Rejects::new(
            dir.path(),
            Path::new("calls.csv"),
            csv_layout(b',', Some(b'"')),
            &names,
        );
        rejects.set_header(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let error = RowError::missing("c");
        rejects.write_fields(&[b"1"], 2, &error).unwrap();
        rejects
            .write_fields(&[b"1", b"2", b"3", b"4"], 3, &error)
            .unwrap();
        rejects.write_fields(&[], 4, &error).unwrap();
        rejects.finish().unwrap();
        let text = std::fs::read_to_string(rejects.path().unwrap()).unwrap();
        assert_eq!(
            text,
            "a,b,c,line,reason\n\
             1,,,2,missing_field: c is missing or empty\n\
             1,2,\"3,4\",3,missing_field: c is missing or empty\n\
             ,,,4,missing_field: c is missing or empty\n"
        );
    }

    #[test]
    fn a_reason_holding_the_delimiter_stays_one_field_in_a_file_without_quotes() {
        let dir = tempfile::tempdir().unwrap();
        let names = RejectNames::default();
        let mut rejects = Rejects::new(
            dir.path(),
            Path::new("acc.tsv"),
            csv_layout(b'\t', None),
            &names,
        );
        rejects.set_width(2);
        let error = RowError::new(Reason::BadValue, "sens: \"in\tout\"; a, b\nc");
        rejects.write_fields(&[b"x", b"y"], 5, &error).unwrap();
        rejects.finish().unwrap();
        let text = std::fs::read_to_string(rejects.path().unwrap()).unwrap();
        assert_eq!(text, "x\ty\t5\tbad_value: sens: \"in,out\"; a, b c\n");
        assert_eq!(
            unquoted_safe("a,b;c", b','),
            "a;b;c",
            "commas become semicolons in a comma file"
        );
    }

    #[test]
    fn json_rejects_are_the_row_plus_line_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let names = RejectNames::default();
        let mut rejects = Rejects::new(
            dir.path(),
            Path::new("log.json"),
            RejectLayout::Json,
            &names,
        );
        let error = RowError::missing("id");
        rejects
            .write_json(br#"{"callType":"ByotIn"}"#, 4, &error)
            .unwrap();
        rejects.write_json(b"{broken", 9, &error).unwrap();
        rejects.finish().unwrap();
        let text = std::fs::read_to_string(dir.path().join("log.rejects.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["callType"], "ByotIn");
        assert_eq!(lines[0]["line"], 4);
        assert_eq!(lines[0]["reason"], "missing_field: id is missing or empty");
        assert_eq!(lines[1]["text"], "{broken");
    }
}
