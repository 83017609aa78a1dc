//! Reading one input file in any format into validated records and rejects.
//!
//! [`read_file`] streams the file: each row is decoded, turned into a
//! [`crate::draft::Draft`] (or read as a whole record for `edge-csv`), validated, and
//! handed to `emit` as a [`Row`]; a refused row goes to the reject file and to `emit`
//! as a [`Row::Rejected`] so the caller can count and report it. Only the current row
//! is held in memory.

use crate::draft::{Checks, Note, Reason, RowError};
use crate::edge_csv;
use crate::json::{JsonItem, JsonRows};
use crate::mapping::{Encoding, Mapping};
use crate::rejects::{RejectLayout, Rejects};
use crate::teams::{self, TeamsRow};
use cdr::{CallRecord, Source};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

/// An input format.
#[derive(Clone, Debug)]
pub enum Format {
    /// Teams Direct Routing log as JSON (Graph page or JSON lines).
    TeamsJson,
    /// Teams Direct Routing log as CSV with the Graph property names as headers.
    TeamsCsv,
    /// The call-record CSV written by `cdr-import export`.
    EdgeCsv,
    /// Another switch's CSV through a mapping file.
    Mapping(Arc<Mapping>),
}

impl Format {
    /// Reads `--format`: `teams-json`, `teams-csv`, `edge-csv` or `mapping:FILE`.
    ///
    /// # Errors
    /// An unknown format, or a mapping file that does not load (every problem listed).
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "teams-json" => Ok(Format::TeamsJson),
            "teams-csv" => Ok(Format::TeamsCsv),
            "edge-csv" => Ok(Format::EdgeCsv),
            other => match other.strip_prefix("mapping:") {
                Some(path) => Mapping::load(Path::new(path)).map(|m| Format::Mapping(Arc::new(m))),
                None => Err(format!(
                    "format {other:?} is not known: use teams-json, teams-csv, edge-csv or mapping:FILE"
                )),
            },
        }
    }

    /// The name records carry as their source format.
    pub fn name(&self) -> String {
        match self {
            Format::TeamsJson => "teams-json".into(),
            Format::TeamsCsv => "teams-csv".into(),
            Format::EdgeCsv => "edge-csv".into(),
            Format::Mapping(m) => m.source_name(),
        }
    }

    /// The `source_name` values that records of this format's key namespace carry
    /// (`None` for `edge-csv`, whose records keep their original sources).
    pub fn stored_source_names(&self) -> Option<Vec<String>> {
        match self {
            Format::TeamsJson | Format::TeamsCsv => {
                Some(vec!["teams-json".into(), "teams-csv".into()])
            }
            Format::EdgeCsv => None,
            Format::Mapping(m) => Some(vec![m.source_name()]),
        }
    }

    /// True for the Teams formats, whose rows are matched with edge records.
    pub fn is_teams(&self) -> bool {
        matches!(self, Format::TeamsJson | Format::TeamsCsv)
    }
}

/// What reading a row gave.
#[derive(Debug)]
pub enum Row {
    /// A valid record.
    Record {
        /// Line where the row starts.
        line: u64,
        /// The record.
        record: Box<CallRecord>,
        /// Something worth reporting about it.
        note: Option<Note>,
    },
    /// A refused row (already in the reject file).
    Rejected {
        /// Line where the row starts.
        line: u64,
        /// Why.
        error: RowError,
    },
}

/// How a file ended.
#[derive(Debug, Default)]
pub struct FileEnd {
    /// The reject file, when rows were refused.
    pub reject_file: Option<std::path::PathBuf>,
    /// A problem that stopped reading the file (the rows before it were read).
    pub error: Option<String>,
}

/// What reading needs besides the file.
pub struct ReadContext<'a> {
    /// The format.
    pub format: &'a Format,
    /// Validation settings and provisioning.
    pub checks: Checks<'a>,
    /// Folder of reject files.
    pub reject_dir: &'a Path,
    /// Name of the file as given on the command line, for sources and messages.
    pub display: String,
}

/// Reads `input` (already opened) row by row, calling `emit` for each.
pub fn read_file(
    input: Box<dyn BufRead + Send>,
    path: &Path,
    ctx: &ReadContext<'_>,
    emit: &mut dyn FnMut(Row),
) -> FileEnd {
    let mut end = FileEnd::default();
    let layout = match ctx.format {
        Format::TeamsJson => RejectLayout::Json,
        Format::TeamsCsv | Format::EdgeCsv => RejectLayout::Csv {
            delimiter: b',',
            quote: Some(b'"'),
            encoding: Encoding::Utf8,
            header: None,
        },
        Format::Mapping(m) => RejectLayout::Csv {
            delimiter: m.delimiter,
            quote: m.quote,
            encoding: m.encoding,
            header: None,
        },
    };
    let mut rejects = Rejects::new(ctx.reject_dir, path, layout);
    let result = match ctx.format {
        Format::TeamsJson => read_json(input, ctx, &mut rejects, emit),
        _ => read_csv(input, ctx, &mut rejects, emit),
    };
    if let Err(e) = result {
        end.error = Some(e);
    }
    if let Err(e) = rejects.finish() {
        end.error
            .get_or_insert(format!("cannot write the reject file: {e}"));
    }
    end.reject_file = rejects.path().map(Path::to_path_buf);
    end
}

fn source(ctx: &ReadContext<'_>, line: u64) -> Source {
    Source::Import {
        format: ctx.format.name(),
        file: ctx.display.clone(),
        line,
    }
}

fn read_json(
    input: Box<dyn BufRead + Send>,
    ctx: &ReadContext<'_>,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(Row),
) -> Result<(), String> {
    for item in JsonRows::new(input) {
        let item = item.map_err(|e| format!("read error: {e}"))?;
        let (line, bytes, result) = match item {
            JsonItem::Row { line, bytes } => {
                let result = TeamsRow::from_json(&bytes)
                    .and_then(|row| row.to_draft())
                    .and_then(|draft| draft.into_record(&ctx.checks, source(ctx, line)));
                (line, bytes, result)
            }
            JsonItem::Error {
                line,
                message,
                bytes,
            } => (line, bytes, Err(RowError::new(Reason::Malformed, message))),
        };
        match result {
            Ok((mut record, note)) => {
                teams::finish(&mut record);
                emit(Row::Record {
                    line,
                    record: Box::new(record),
                    note,
                });
            }
            Err(error) => {
                rejects
                    .write_json(&bytes, line, &error)
                    .map_err(|e| format!("cannot write the reject file: {e}"))?;
                emit(Row::Rejected { line, error });
            }
        }
    }
    Ok(())
}

enum CsvLayout {
    Teams(Vec<Option<usize>>),
    Edge(Vec<Option<usize>>),
    Mapping(Box<crate::mapping::Layout>),
}

fn read_csv(
    mut input: Box<dyn BufRead + Send>,
    ctx: &ReadContext<'_>,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(Row),
) -> Result<(), String> {
    let (delimiter, quote, encoding, has_header) = match ctx.format {
        Format::Mapping(m) => (m.delimiter, m.quote, m.encoding, m.header),
        _ => (b',', Some(b'"'), Encoding::Utf8, true),
    };
    // PowerShell's Export-Csv writes a `#TYPE ...` line before the header.
    let mut skipped_lines = 0;
    if has_header {
        let head = input.fill_buf().map_err(|e| format!("read error: {e}"))?;
        let head = head
            .strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .unwrap_or(head);
        if head.starts_with(b"#TYPE") {
            let mut discard = Vec::new();
            input
                .read_until(b'\n', &mut discard)
                .map_err(|e| format!("read error: {e}"))?;
            skipped_lines = 1;
        }
    }
    let mut builder = csv::ReaderBuilder::new();
    // Records end at `\n` only, and a `\r` before it is removed below: with the
    // default CRLF terminator the csv crate reports the lines of a CRLF file one short.
    builder
        .delimiter(delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .has_headers(false)
        .flexible(true);
    match quote {
        Some(q) => builder.quote(q),
        None => builder.quoting(false),
    };
    let mut reader = builder.from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut layout: Option<CsvLayout> = None;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line()) + skipped_lines;
                let error = RowError::new(Reason::Malformed, format!("not CSV: {e}"));
                match e.kind() {
                    // A bad row: report it and go on with the next.
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. } => {
                        rejects
                            .write_fields(&[], line, &error)
                            .map_err(|e| format!("cannot write the reject file: {e}"))?;
                        emit(Row::Rejected { line, error });
                        continue;
                    }
                    _ => return Err(format!("line {line}: {e}")),
                }
            }
        }
        let line = record.position().map_or(0, |p| p.line()) + skipped_lines;
        let mut fields: Vec<&[u8]> = record.iter().collect();
        if let Some(last) = fields.last_mut() {
            *last = last.strip_suffix(b"\r").unwrap_or(last);
        }
        // Decode every field; a field in the wrong encoding refuses the row.
        let mut decoded: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(fields.len());
        let mut decode_error = None;
        for f in &fields {
            match encoding.decode(f) {
                Ok(text) => decoded.push(text),
                Err(message) => {
                    decode_error = Some(RowError::new(Reason::Malformed, message));
                    decoded.push(std::borrow::Cow::Borrowed(""));
                }
            }
        }
        if layout.is_none() {
            if has_header {
                let header: Vec<String> = decoded
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        if i == 0 {
                            h.trim_start_matches('\u{feff}').to_string()
                        } else {
                            h.to_string()
                        }
                    })
                    .collect();
                rejects.set_header(fields.iter().map(|f| f.to_vec()).collect());
                let refs: Vec<&str> = header.iter().map(String::as_str).collect();
                layout = Some(match ctx.format {
                    Format::TeamsCsv => CsvLayout::Teams(
                        TeamsRow::columns(&refs).map_err(|e| format!("line {line}: {e}"))?,
                    ),
                    Format::EdgeCsv => CsvLayout::Edge(
                        edge_csv::columns(&refs).map_err(|e| format!("line {line}: {e}"))?,
                    ),
                    Format::Mapping(m) => CsvLayout::Mapping(Box::new(
                        m.layout(Some(&header))
                            .map_err(|e| format!("line {line}: {e}"))?,
                    )),
                    Format::TeamsJson => unreachable!("JSON is not read as CSV"),
                });
                continue;
            }
            layout = Some(match ctx.format {
                Format::Mapping(m) => CsvLayout::Mapping(Box::new(
                    m.layout(None).map_err(|e| format!("line {line}: {e}"))?,
                )),
                _ => return Err("this format needs a header".into()),
            });
        }
        if fields.len() == 1 && fields[0].is_empty() {
            continue; // a blank line
        }
        let result = match decode_error {
            Some(error) => Err(error),
            None => {
                let refs: Vec<&str> = decoded.iter().map(|d| d.as_ref()).collect();
                match layout.as_ref() {
                    Some(CsvLayout::Teams(columns)) => TeamsRow::from_fields(columns, &refs)
                        .to_draft()
                        .and_then(|d| d.into_record(&ctx.checks, source(ctx, line)))
                        .map(|(mut r, note)| {
                            teams::finish(&mut r);
                            (r, note)
                        }),
                    Some(CsvLayout::Edge(columns)) => edge_csv::from_fields(columns, &refs)
                        .and_then(|r| {
                            if ctx.checks.provisioning.trunk(&r.trunk_id).is_none() {
                                Err(RowError::new(
                                    Reason::UnknownTrunk,
                                    format!("trunk {:?} is not provisioned", r.trunk_id),
                                ))
                            } else {
                                Ok((r, None))
                            }
                        }),
                    Some(CsvLayout::Mapping(layout)) => match ctx.format {
                        Format::Mapping(m) => m
                            .draft(layout, &decoded, ctx.checks.duration_tolerance_ms)
                            .and_then(|d| d.into_record(&ctx.checks, source(ctx, line))),
                        _ => unreachable!("a mapping layout comes from a mapping format"),
                    },
                    None => unreachable!("the layout is set before the first row"),
                }
            }
        };
        match result {
            Ok((record, note)) => emit(Row::Record {
                line,
                record: Box::new(record),
                note,
            }),
            Err(error) => {
                rejects
                    .write_fields(&fields, line, &error)
                    .map_err(|e| format!("cannot write the reject file: {e}"))?;
                emit(Row::Rejected { line, error });
            }
        }
    }
    Ok(())
}
