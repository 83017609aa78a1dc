//! Reading one input file in any format into validated records and rejects.
//!
//! [`read_file`] streams the file: each row is decoded, turned into a
//! [`crate::draft::Draft`] (or read as a whole record for `edge-csv`), validated, and
//! handed to `emit` as a [`Row`]; a refused row goes to the reject file and to `emit`
//! as a [`Row::Rejected`] so the caller can count and report it.
//!
//! CSV files are validated by [`ReadContext::workers`] threads: the reading thread
//! splits the file into chunks of [`CHUNK_ROWS`] rows (fields only, no decoding), the
//! workers decode and validate whole chunks, and the reading thread takes the results
//! back in file order, so rows reach `emit` and the reject file exactly as they would
//! from one thread. At most a few chunks per worker are in flight: memory stays
//! bounded whatever the file's size.

use crate::draft::{Checks, Note, Reason, RowError};
use crate::edge_csv;
use crate::json::{JsonItem, JsonRows};
use crate::mapping::{Encoding, Mapping};
use crate::rejects::{RejectLayout, RejectNames, Rejects};
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
// Nearly every row is a record: boxing it would cost an allocation and a copy per row.
#[allow(clippy::large_enum_variant)]
pub enum Row {
    /// A valid record.
    Record {
        /// Line where the row starts.
        line: u64,
        /// The record.
        record: CallRecord,
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
    /// Something to tell about a file read whole: a Teams export that goes on beyond it.
    pub warning: Option<String>,
}

/// Rows per chunk handed to a validation worker.
pub const CHUNK_ROWS: usize = 1_024;

/// Chunks in flight per worker (queued, being validated, or waiting to be emitted).
const CHUNKS_PER_WORKER: usize = 4;

/// What reading needs besides the file.
pub struct ReadContext<'a> {
    /// The format.
    pub format: &'a Format,
    /// Validation settings and provisioning.
    pub checks: Checks<'a>,
    /// Folder of reject files.
    pub reject_dir: &'a Path,
    /// The run's reject files, so that no two inputs share one.
    pub reject_names: &'a RejectNames,
    /// Name of the file as given on the command line, for sources and messages
    /// (shared by the file's records).
    pub display: Arc<str>,
    /// [`Format::name`], shared by the file's records.
    pub format_name: Arc<str>,
    /// Threads validating CSV rows (1: the reading thread validates them itself).
    pub workers: usize,
}

/// Where the one header field `name` is (blanks around it aside), found by `matches`.
///
/// # Errors
/// When two fields match: which one to read would be a guess.
pub fn header_position(
    header: &[&str],
    name: &str,
    matches: impl Fn(&str) -> bool,
) -> Result<Option<usize>, String> {
    let mut found = (0..header.len()).filter(|&i| matches(header[i].trim()));
    match (found.next(), found.next()) {
        (Some(first), Some(second)) => Err(format!(
            "the header has {name} twice (columns {} and {}): which one to read is unclear",
            first + 1,
            second + 1
        )),
        (first, _) => Ok(first),
    }
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
    let mut rejects = Rejects::new(ctx.reject_dir, path, layout, ctx.reject_names);
    let result = match ctx.format {
        Format::TeamsJson => read_json(input, ctx, &mut rejects, emit),
        _ => read_csv(input, ctx, &mut rejects, emit).map(|()| None),
    };
    match result {
        Ok(warning) => end.warning = warning,
        Err(e) => end.error = Some(e),
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
        format: ctx.format_name.clone(),
        file: ctx.display.clone(),
        line,
    }
}

/// Reads a `teams-json` file: rows are validated and emitted, text that is not a row
/// is refused with its line. When the reader gives up on the rest of the file (a page
/// broken partway or cut short), the bad text is refused too and the error returned
/// says where reading stopped: the file is not read to the end. A file read whole whose
/// last Graph page links to a next one gives a warning: the export goes on elsewhere.
fn read_json(
    input: Box<dyn BufRead + Send>,
    ctx: &ReadContext<'_>,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(Row),
) -> Result<Option<String>, String> {
    let mut rows = JsonRows::new(input);
    let mut stopped = None;
    loop {
        let item = match rows.next() {
            None => break,
            Some(Ok(item)) => item,
            Some(Err(e)) => {
                return Err(stopped_after(rows.lines_read(), format!("read error: {e}")))
            }
        };
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
            JsonItem::Fatal {
                line,
                message,
                bytes,
            } => {
                let error = RowError::new(
                    Reason::Malformed,
                    format!("{message}; the rest of the file is not read"),
                );
                stopped = Some(format!("line {line}: {message}"));
                (line, bytes, Err(error))
            }
        };
        match result {
            Ok((mut record, note)) => {
                teams::finish(&mut record);
                emit(Row::Record { line, record, note });
            }
            Err(error) => {
                rejects
                    .write_json(&bytes, line, &error)
                    .map_err(|e| format!("cannot write the reject file: {e}"))?;
                emit(Row::Rejected { line, error });
            }
        }
    }
    match stopped {
        Some(error) => Err(error),
        None => Ok(rows.next_page_link_line().map(|line| {
            format!(
                "line {line}: the last page links to a next one (@odata.nextLink): the Graph export goes on beyond this file, import its next pages too"
            )
        })),
    }
}

/// The message of an error without a position of its own (an I/O error: a truncated
/// gzip file) that stopped reading a file, naming the last line read whole, if any.
fn stopped_after(lines_read: u64, error: impl std::fmt::Display) -> String {
    if lines_read == 0 {
        error.to_string()
    } else {
        format!("after line {lines_read}: {error}")
    }
}

/// The message of a CSV error that stops reading a file: its line, or, for an I/O
/// error, which has none, the last line read whole (`record` is positioned at the
/// start of the row being read when the error came).
fn csv_stop_message(error: &csv::Error, record: &csv::ByteRecord, skipped_lines: u64) -> String {
    match error.position() {
        Some(p) => format!("line {}: {error}", p.line() + skipped_lines),
        None => {
            let row_line = record.position().map_or(1, |p| p.line());
            stopped_after(row_line.saturating_sub(1) + skipped_lines, error)
        }
    }
}

enum CsvLayout {
    Teams(Vec<Option<usize>>),
    Edge(Vec<Option<usize>>),
    Mapping(Box<crate::mapping::Layout>),
}

/// How many fields every row of a CSV file has (RFC 4180 §2): its header's, or in a
/// file without header its first row's.
#[derive(Clone, Copy, Debug)]
struct RowWidth {
    fields: usize,
    /// `fields` without the blank fields ending the header (or first row): rows may
    /// lack those (a header written with a trailing delimiter, rows without).
    least: usize,
    from_header: bool,
}

/// Whether a field is empty or only blanks.
fn is_blank(field: &[u8]) -> bool {
    field.iter().all(u8::is_ascii_whitespace)
}

impl RowWidth {
    /// The width of a file whose header (or first row) is `reference`.
    fn of(reference: &[&[u8]], from_header: bool) -> Self {
        let trailing_blanks = reference.iter().rev().take_while(|f| is_blank(f)).count();
        RowWidth {
            fields: reference.len(),
            least: (reference.len() - trailing_blanks).max(1),
            from_header,
        }
    }

    /// Refuses a row that does not have the file's width: a field missing or a
    /// delimiter inside an unquoted value shifts every column after it. Blank fields
    /// at the end are no such shift (switches that end every row, or only the header,
    /// with a delimiter; spreadsheets that pad rows): a row may have more of them, or
    /// lack those ending the header.
    fn check(self, fields: &[&[u8]]) -> Result<(), RowError> {
        let count = fields.len();
        if (self.least..=self.fields).contains(&count)
            || (count > self.fields && fields[self.fields..].iter().all(|f| is_blank(f)))
        {
            return Ok(());
        }
        let reference = if self.from_header {
            "the header"
        } else {
            "the first row"
        };
        Err(RowError::new(
            Reason::Malformed,
            format!("{count} fields where {reference} has {}", self.fields),
        ))
    }
}

/// Reads a CSV file's bytes on their way to the csv reader and follows its quoting
/// (csv_core's rules: a quote opens a quoted field only at the start of a field, a
/// doubled quote inside one is a quote, a quote followed by anything else closes it),
/// to tell whether the file ends inside a quoted field. The csv reader, which is not
/// strict, then silently reads the rest of the file as that field.
struct QuoteTracker<R> {
    inner: R,
    /// The quote character; `None` when the file is never quoted.
    quote: Option<u8>,
    delimiter: u8,
    state: QuoteState,
    /// Line ends inside the quoted field being read.
    newlines_in_quotes: u64,
    /// The underlying reader reported its end.
    at_end: bool,
    /// The last byte read ended a line.
    ends_with_newline: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum QuoteState {
    /// Outside quotes; `field_start` when the next byte starts a field.
    Outside { field_start: bool },
    /// Inside a quoted field.
    Quoted,
    /// A quote inside a quoted field: the next byte tells a doubled quote from the end.
    QuoteInQuoted,
}

impl<R> QuoteTracker<R> {
    fn new(inner: R, quote: Option<u8>, delimiter: u8) -> Self {
        QuoteTracker {
            inner,
            quote,
            delimiter,
            state: QuoteState::Outside { field_start: true },
            newlines_in_quotes: 0,
            at_end: false,
            ends_with_newline: false,
        }
    }

    /// Once the whole input was read and it ended inside a quoted field: the line
    /// ends inside that field.
    fn unclosed_quote(&self) -> Option<u64> {
        (self.at_end && self.state == QuoteState::Quoted).then_some(self.newlines_in_quotes)
    }

    /// Follows the quoting over `bytes`, the next bytes of the input.
    fn follow(&mut self, bytes: &[u8]) {
        let Some(quote) = self.quote else { return };
        let starts_field = |b: u8| b == self.delimiter || b == b'\n';
        let mut at = 0;
        while at < bytes.len() {
            match self.state {
                QuoteState::Outside { field_start } => {
                    if field_start && bytes[at] == quote {
                        self.state = QuoteState::Quoted;
                        self.newlines_in_quotes = 0;
                        at += 1;
                        continue;
                    }
                    match memchr::memchr(quote, &bytes[at..]) {
                        Some(offset) => {
                            let found = at + offset;
                            // `bytes[at]` is not an opening quote: `found > at`.
                            if found > at && starts_field(bytes[found - 1]) {
                                self.state = QuoteState::Quoted;
                                self.newlines_in_quotes = 0;
                            } else {
                                self.state = QuoteState::Outside { field_start: false };
                            }
                            at = found + 1;
                        }
                        None => {
                            let last = bytes[bytes.len() - 1];
                            self.state = QuoteState::Outside {
                                field_start: starts_field(last),
                            };
                            at = bytes.len();
                        }
                    }
                }
                QuoteState::Quoted => {
                    let rest = &bytes[at..];
                    let end = memchr::memchr(quote, rest).unwrap_or(rest.len());
                    self.newlines_in_quotes +=
                        memchr::memchr_iter(b'\n', &rest[..end]).count() as u64;
                    if end < rest.len() {
                        self.state = QuoteState::QuoteInQuoted;
                    }
                    at += end + 1;
                }
                QuoteState::QuoteInQuoted => {
                    if bytes[at] == quote {
                        self.state = QuoteState::Quoted;
                        at += 1;
                    } else {
                        // The field is closed; this byte is read outside quotes.
                        self.state = QuoteState::Outside { field_start: false };
                        if starts_field(bytes[at]) {
                            self.state = QuoteState::Outside { field_start: true };
                            at += 1;
                        }
                    }
                }
            }
        }
    }
}

impl<R: std::io::Read> std::io::Read for QuoteTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read == 0 && !buf.is_empty() {
            self.at_end = true;
        }
        if let Some(last) = buf[..read].last() {
            self.ends_with_newline = *last == b'\n';
        }
        self.follow(&buf[..read]);
        Ok(read)
    }
}

/// When the record just read ended inside a quoted field (the file's last record,
/// since a quote never closed takes in the rest of the file): the line where the quote
/// opened, and the refusal of the row.
fn unclosed_quote<R: std::io::Read>(
    reader: &csv::Reader<QuoteTracker<R>>,
    skipped_lines: u64,
) -> Option<(u64, RowError)> {
    let tracker = reader.get_ref();
    let newlines_after_quote = tracker.unclosed_quote()?;
    // The reader's line is 1 + the line ends read; the last line holds the last byte.
    let end_line = reader.position().line() + skipped_lines;
    let quote_line = end_line.saturating_sub(newlines_after_quote);
    let last_line = end_line - u64::from(tracker.ends_with_newline && end_line > quote_line);
    let error = RowError::new(
        Reason::Malformed,
        format!(
            "the quote opened on line {quote_line} is never closed: the rest of the file (to line {last_line}) was read as one field"
        ),
    );
    Some((quote_line, error))
}

/// The line where the record just read starts. The csv reader dates a record from
/// where it began looking for it, before the blank lines it skips; counting back from
/// where the record ended (its terminator, and the line ends inside its quoted fields)
/// does not.
fn record_start_line<R: std::io::Read>(
    reader: &csv::Reader<QuoteTracker<R>>,
    record: &csv::ByteRecord,
    skipped_lines: u64,
) -> u64 {
    let end_line = reader.position().line();
    // A record ends at a line end, or at the end of the input (the last line).
    let terminator = u64::from(!reader.get_ref().at_end);
    let inside = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
    end_line.saturating_sub(terminator + inside).max(1) + skipped_lines
}

/// The error that stops reading a file whose quote opened on `quote_line` never closes.
fn unclosed_quote_stop(quote_line: u64) -> String {
    format!("line {quote_line}: a quote is never closed: the rest of the file was not read as rows")
}

/// The refusal of a field that is not UTF-8, with the fix that fits the format: a
/// mapping can declare Latin-1, the Teams and edge formats are UTF-8 only.
fn not_utf8(format: &Format, field: &[u8]) -> RowError {
    let message = match format {
        Format::Mapping(_) => Encoding::Utf8.decode(field).err().unwrap_or_default(),
        _ => format!(
            "{:?} is not valid UTF-8 ({} files are UTF-8: convert the file first, e.g. with iconv -f latin1 -t utf-8)",
            String::from_utf8_lossy(field),
            format.name()
        ),
    };
    RowError::new(Reason::Malformed, message)
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
    let mut reader = builder.from_reader(QuoteTracker::new(input, quote, delimiter));
    let mut record = csv::ByteRecord::new();
    let mut layout: Option<CsvLayout> = None;
    let mut width: Option<RowWidth> = None;
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
                    _ => return Err(csv_stop_message(&e, &record, skipped_lines)),
                }
            }
        }
        let line = record_start_line(&reader, &record, skipped_lines);
        let mut fields: Vec<&[u8]> = record.iter().collect();
        if let Some(last) = fields.last_mut() {
            *last = last.strip_suffix(b"\r").unwrap_or(last);
        }
        if let Some((quote_line, error)) = unclosed_quote(&reader, skipped_lines) {
            if layout.is_some() || !has_header {
                deliver(rejects, emit, &fields, line, Err(error))?;
            }
            return Err(unclosed_quote_stop(quote_line));
        }
        if layout.is_none() {
            if has_header {
                let header: Vec<String> = fields
                    .iter()
                    .map(|f| encoding.decode(f).unwrap_or_default())
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
                width = Some(RowWidth::of(&fields, true));
                let refs: Vec<&str> = header.iter().map(String::as_str).collect();
                layout = Some(match ctx.format {
                    Format::TeamsCsv => CsvLayout::Teams(
                        TeamsRow::columns(&refs).map_err(|e| format!("line {line}: {e}"))?,
                    ),
                    Format::EdgeCsv => CsvLayout::Edge(
                        edge_csv::columns(&refs).map_err(|e| format!("line {line}: {e}"))?,
                    ),
                    Format::Mapping(m) => CsvLayout::Mapping(Box::new(
                        m.layout(Some(&header), header.len())
                            .map_err(|e| format!("line {line}: {e}"))?,
                    )),
                    Format::TeamsJson => unreachable!("JSON is not read as CSV"),
                });
                continue;
            }
            if fields.iter().all(|f| is_blank(f)) {
                continue; // the first row sets the width: not a blank line
            }
            layout = Some(match ctx.format {
                Format::Mapping(m) => CsvLayout::Mapping(Box::new(
                    m.layout(None, fields.len())
                        .map_err(|e| format!("line {line}: {e}"))?,
                )),
                _ => return Err("this format needs a header".into()),
            });
        }
        if fields.iter().all(|f| is_blank(f)) {
            continue; // a blank line, or one of delimiters only (spreadsheet padding)
        }
        let Some(layout) = layout.as_ref() else {
            return Err("the CSV layout was not set before the first row".into());
        };
        let width = *width.get_or_insert_with(|| {
            rejects.set_width(fields.len());
            RowWidth::of(&fields, false)
        });
        if ctx.workers > 1 {
            // The first data row is in hand: the rest of the file goes to the workers.
            return read_csv_rows_in_parallel(
                &mut reader,
                &mut record,
                skipped_lines,
                ctx,
                layout,
                width,
                encoding,
                rejects,
                emit,
            );
        }
        let result = validate_row(ctx, layout, width, encoding, &fields, None, line);
        deliver(rejects, emit, &fields, line, result)?;
    }
    Ok(())
}

/// Checks one CSV row's field count, decodes and validates it; `texts` are its fields
/// already checked as UTF-8 (by the chunk check), else `fields` are decoded here.
fn validate_row(
    ctx: &ReadContext<'_>,
    layout: &CsvLayout,
    width: RowWidth,
    encoding: Encoding,
    fields: &[&[u8]],
    texts: Option<&[&str]>,
    line: u64,
) -> Result<(CallRecord, Option<Note>), RowError> {
    width.check(fields)?;
    // Decode every field; a field in the wrong encoding refuses the row. UTF-8 fields
    // are borrowed as they are.
    let decoded: Vec<std::borrow::Cow<'_, str>>;
    let checked: Vec<&str>;
    let refs: &[&str] = match (texts, encoding) {
        (Some(texts), _) => texts,
        (None, Encoding::Utf8) => {
            checked = fields
                .iter()
                .map(|f| std::str::from_utf8(f).map_err(|_| not_utf8(ctx.format, f)))
                .collect::<Result<_, _>>()?;
            &checked
        }
        (None, Encoding::Latin1) => {
            decoded = fields
                .iter()
                .map(|f| {
                    encoding
                        .decode(f)
                        .map_err(|m| RowError::new(Reason::Malformed, m))
                })
                .collect::<Result<_, _>>()?;
            checked = decoded.iter().map(|d| d.as_ref()).collect();
            &checked
        }
    };
    match layout {
        CsvLayout::Teams(columns) => TeamsRow::from_fields(columns, refs)
            .to_draft()
            .and_then(|d| d.into_record(&ctx.checks, source(ctx, line)))
            .map(|(mut r, note)| {
                teams::finish(&mut r);
                (r, note)
            }),
        CsvLayout::Edge(columns) => edge_csv::from_fields(columns, refs).and_then(|r| {
            edge_csv::check_provisioned(&r, ctx.checks.provisioning)?;
            Ok((r, None))
        }),
        CsvLayout::Mapping(layout) => match ctx.format {
            Format::Mapping(m) => m
                .draft(layout, refs, ctx.checks.duration_tolerance_ms)
                .and_then(|d| d.into_record(&ctx.checks, source(ctx, line))),
            _ => unreachable!("a mapping layout comes from a mapping format"),
        },
    }
}

/// Hands a validated row to `emit`, or a refused one to the reject file and `emit`.
fn deliver(
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(Row),
    fields: &[&[u8]],
    line: u64,
    result: Result<(CallRecord, Option<Note>), RowError>,
) -> Result<(), String> {
    match result {
        Ok((record, note)) => emit(Row::Record { line, record, note }),
        Err(error) => {
            rejects
                .write_fields(fields, line, &error)
                .map_err(|e| format!("cannot write the reject file: {e}"))?;
            emit(Row::Rejected { line, error });
        }
    }
    Ok(())
}

/// Rows of a CSV file as the reading thread found them: their fields' bytes side by
/// side, and per row its line and its fields, or the CSV error that refused it.
#[derive(Default)]
struct Chunk {
    sequence: u64,
    bytes: Vec<u8>,
    /// End offset in `bytes` of every field.
    field_ends: Vec<usize>,
    rows: Vec<ChunkRow>,
}

struct ChunkRow {
    line: u64,
    /// Index in `field_ends` of the row's first field, and its field count.
    first_field: usize,
    field_count: usize,
    /// A row the CSV reader already refused.
    refused: Option<RowError>,
}

impl Chunk {
    /// Adds a CSV record's fields (a `\r` ending the last one removed); a row of blank
    /// fields is left out.
    fn push_record(&mut self, line: u64, record: &csv::ByteRecord) {
        let count = record.len();
        let first_field = self.field_ends.len();
        let start = self.bytes.len();
        for (i, field) in record.iter().enumerate() {
            let field = if i + 1 == count {
                field.strip_suffix(b"\r").unwrap_or(field)
            } else {
                field
            };
            self.bytes.extend_from_slice(field);
            self.field_ends.push(self.bytes.len());
        }
        if is_blank(&self.bytes[start..]) {
            // A blank line, or one of delimiters only (spreadsheet padding).
            self.bytes.truncate(start);
            self.field_ends.truncate(first_field);
            return;
        }
        self.rows.push(ChunkRow {
            line,
            first_field,
            field_count: count,
            refused: None,
        });
    }

    fn push(&mut self, line: u64, fields: &[&[u8]], refused: Option<RowError>) {
        let first_field = self.field_ends.len();
        for field in fields {
            self.bytes.extend_from_slice(field);
            self.field_ends.push(self.bytes.len());
        }
        self.rows.push(ChunkRow {
            line,
            first_field,
            field_count: fields.len(),
            refused,
        });
    }

    fn fields<'c>(&'c self, row: &ChunkRow, out: &mut Vec<&'c [u8]>) {
        out.clear();
        for i in row.first_field..row.first_field + row.field_count {
            let start = if i == 0 { 0 } else { self.field_ends[i - 1] };
            out.push(&self.bytes[start..self.field_ends[i]]);
        }
    }

    /// The fields of `row` as text, cut from `text`, the chunk's bytes already checked
    /// as UTF-8 as a whole; false when a field does not start or end on a character
    /// boundary (a character cut between two fields: the fields are not UTF-8 each).
    fn field_texts<'c>(&self, text: &'c str, row: &ChunkRow, out: &mut Vec<&'c str>) -> bool {
        out.clear();
        for i in row.first_field..row.first_field + row.field_count {
            let start = if i == 0 { 0 } else { self.field_ends[i - 1] };
            match text.get(start..self.field_ends[i]) {
                Some(field) => out.push(field),
                None => return false,
            }
        }
        true
    }
}

/// A validated chunk: the chunk (for the reject file's raw fields) and a result per row.
struct Validated {
    chunk: Chunk,
    results: Vec<Result<(CallRecord, Option<Note>), RowError>>,
}

/// Reads the rest of a CSV file (`first` holds its first data row) and validates its
/// rows on `ctx.workers` threads, delivering them in file order.
#[allow(clippy::too_many_arguments)]
fn read_csv_rows_in_parallel<R: std::io::Read>(
    reader: &mut csv::Reader<QuoteTracker<R>>,
    first: &mut csv::ByteRecord,
    skipped_lines: u64,
    ctx: &ReadContext<'_>,
    layout: &CsvLayout,
    width: RowWidth,
    encoding: Encoding,
    rejects: &mut Rejects,
    emit: &mut dyn FnMut(Row),
) -> Result<(), String> {
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    let workers = ctx.workers.max(1);
    let most_in_flight = (workers * CHUNKS_PER_WORKER) as u64;
    let (work_tx, work_rx) = mpsc::sync_channel::<Chunk>(most_in_flight as usize);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::channel::<Validated>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || loop {
                let next = work_rx
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .recv();
                let Ok(mut chunk) = next else { return };
                let refused: Vec<Option<RowError>> =
                    chunk.rows.iter_mut().map(|r| r.refused.take()).collect();
                let mut results = Vec::with_capacity(chunk.rows.len());
                {
                    // UTF-8 is checked once for the chunk; a chunk that fails is
                    // checked field by field, so that the error names the row.
                    let text = match encoding {
                        Encoding::Utf8 => std::str::from_utf8(&chunk.bytes).ok(),
                        Encoding::Latin1 => None,
                    };
                    let mut fields = Vec::with_capacity(16);
                    let mut texts = Vec::with_capacity(16);
                    for (row, refused) in chunk.rows.iter().zip(refused) {
                        results.push(match refused {
                            Some(error) => Err(error),
                            None => {
                                chunk.fields(row, &mut fields);
                                let checked = text
                                    .filter(|text| chunk.field_texts(text, row, &mut texts))
                                    .map(|_| texts.as_slice());
                                validate_row(
                                    ctx, layout, width, encoding, &fields, checked, row.line,
                                )
                            }
                        });
                    }
                }
                if done_tx.send(Validated { chunk, results }).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        // Results come back in any order; they are delivered in file order.
        let mut waiting: BTreeMap<u64, Validated> = BTreeMap::new();
        let mut next_to_deliver = 0u64;
        let mut sent = 0u64;
        let mut spare: Vec<Chunk> = Vec::new();
        let mut deliver_ready = |waiting: &mut BTreeMap<u64, Validated>,
                                 next_to_deliver: &mut u64,
                                 spare: &mut Vec<Chunk>|
         -> Result<(), String> {
            while let Some(validated) = waiting.remove(next_to_deliver) {
                let Validated { mut chunk, results } = validated;
                for (row, result) in chunk.rows.iter().zip(results) {
                    let mut row_fields = Vec::new();
                    if result.is_err() {
                        chunk.fields(row, &mut row_fields);
                    }
                    deliver(rejects, emit, &row_fields, row.line, result)?;
                }
                chunk.bytes.clear();
                chunk.field_ends.clear();
                chunk.rows.clear();
                spare.push(chunk);
                *next_to_deliver += 1;
            }
            Ok(())
        };

        let mut chunk = Chunk::default();
        // A delivery failure (reject file) stops everything; a CSV error that stops
        // the reading still lets the rows before it through.
        let mut outcome: Result<(), String> = Ok(());
        let mut fatal: Option<String> = None;
        let mut record = std::mem::take(first);
        let mut have_row = true;
        loop {
            if have_row {
                let line = record_start_line(reader, &record, skipped_lines);
                chunk.push_record(line, &record);
            }
            let at_end = match reader.read_byte_record(&mut record) {
                Ok(true) => match unclosed_quote(reader, skipped_lines) {
                    Some((quote_line, error)) => {
                        // The file's last row: refused in its place, and reading stops.
                        have_row = false;
                        let line = record_start_line(reader, &record, skipped_lines);
                        let fields: Vec<&[u8]> = record.iter().collect();
                        chunk.push(line, &fields, Some(error));
                        fatal = Some(unclosed_quote_stop(quote_line));
                        true
                    }
                    None => {
                        have_row = true;
                        false
                    }
                },
                Ok(false) => {
                    have_row = false;
                    true
                }
                Err(e) => {
                    have_row = false;
                    let line = e.position().map_or(0, |p| p.line()) + skipped_lines;
                    match e.kind() {
                        // A bad row: refused in its place, and reading goes on.
                        csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. } => {
                            let error = RowError::new(Reason::Malformed, format!("not CSV: {e}"));
                            chunk.push(line, &[], Some(error));
                            false
                        }
                        _ => {
                            fatal = Some(csv_stop_message(&e, &record, skipped_lines));
                            true
                        }
                    }
                }
            };
            if chunk.rows.len() >= CHUNK_ROWS || (at_end && !chunk.rows.is_empty()) {
                let mut full = std::mem::replace(&mut chunk, spare.pop().unwrap_or_default());
                full.sequence = sent;
                sent += 1;
                if work_tx.send(full).is_err() {
                    break;
                }
                // Deliver what is ready; wait when too many chunks are in flight.
                while let Ok(validated) = if sent - next_to_deliver >= most_in_flight {
                    done_rx.recv().map_err(|_| mpsc::TryRecvError::Disconnected)
                } else {
                    done_rx.try_recv()
                } {
                    waiting.insert(validated.chunk.sequence, validated);
                    if let Err(e) = deliver_ready(&mut waiting, &mut next_to_deliver, &mut spare) {
                        outcome = Err(e);
                        break;
                    }
                }
                if outcome.is_err() {
                    break;
                }
            }
            if at_end {
                break;
            }
        }
        drop(work_tx);
        // The rest, in order (workers stop once the queue is empty and closed).
        while outcome.is_ok() && next_to_deliver < sent {
            match done_rx.recv() {
                Ok(validated) => {
                    waiting.insert(validated.chunk.sequence, validated);
                    if let Err(e) = deliver_ready(&mut waiting, &mut next_to_deliver, &mut spare) {
                        outcome = Err(e);
                    }
                }
                Err(_) => {
                    outcome = Err("a validation worker stopped".into());
                }
            }
        }
        outcome?;
        fatal.map_or(Ok(()), Err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::provisioning;

    const MAPPING: &str = r#"
name = "chunks"
encoding = "latin-1"
[time]
format = "%Y-%m-%d %H:%M:%S"
[columns]
id = "id"
invite = "start"
end = "end"
caller = "caller"
callee = "callee"
trunk = "trunk"
[direction]
constant = "outbound"
"#;

    /// A file of several chunks whose rows go wrong in every way, CSV errors included.
    fn file(rows: usize) -> Vec<u8> {
        let mut text = b"id,start,end,caller,callee,trunk\n".to_vec();
        for n in 0..rows {
            let row = match n % 11 {
                3 => format!("r{n},2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,06 FLEURS,acme-multisite\n"),
                4 => format!("r{n},2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678\n"),
                5 => format!("r{n},2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,\n"),
                6 => format!("r{n},2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,acme-multisite,x\n"),
                7 => format!("r{n},2026-10-05 10:00:00,2026-10-05 09:01:00,0140000000,0612345678,acme-multisite\n"),
                8 => format!("r{n},2026-13-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,acme-multisite\n"),
                9 => "\n".to_string(),
                10 => format!("\"r{n}\nsplit\",2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,\"0612345678\",nowhere\n"),
                _ => format!("r{n},2026-10-05 1{}:00:00,2026-10-05 1{}:01:00,014000{:04},0612345678,acme-multisite\r\n", n % 10, n % 10, n % 3000),
            };
            text.extend_from_slice(row.as_bytes());
        }
        // Latin-1: a letter in the number, on a last line without a line end.
        text.extend_from_slice(
            b"r-last,2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,06123456\xe9,acme-multisite",
        );
        text
    }

    /// Reads the file with `workers` threads: what `emit` saw and the reject file.
    fn read_with(workers: usize, input: &[u8]) -> (Vec<String>, Vec<u8>) {
        read_as(MAPPING, workers, input)
    }

    /// Reads the file through `mapping` with `workers` threads.
    fn read_as(mapping: &str, workers: usize, input: &[u8]) -> (Vec<String>, Vec<u8>) {
        let (seen, end, rejects) = read_to_end(mapping, workers, input);
        assert_eq!(end.error, None);
        (seen, rejects.expect("rows were refused"))
    }

    /// Reads the file through `mapping` with `workers` threads: what `emit` saw, how
    /// the file ended and the reject file.
    fn read_to_end(
        mapping: &str,
        workers: usize,
        input: &[u8],
    ) -> (Vec<String>, FileEnd, Option<Vec<u8>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.csv");
        std::fs::write(&path, input).unwrap();
        let format = Format::Mapping(Arc::new(Mapping::parse(mapping).unwrap()));
        let provisioning = provisioning();
        let reject_names = RejectNames::default();
        let ctx = ReadContext {
            format: &format,
            checks: Checks {
                provisioning: &provisioning,
                duration_tolerance_ms: 2_000,
            },
            reject_dir: dir.path(),
            reject_names: &reject_names,
            display: "calls.csv".into(),
            format_name: format.name().into(),
            workers,
        };
        let mut seen = Vec::new();
        let reader = Box::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let end = read_file(reader, &path, &ctx, &mut |row| {
            seen.push(match row {
                Row::Record { line, record, .. } => {
                    format!(
                        "{line} {} {} {:?}",
                        record.key, record.caller, record.source
                    )
                }
                Row::Rejected { line, error } => format!("{line} {error}"),
            })
        });
        let rejects = end.reject_file.as_ref().map(|p| std::fs::read(p).unwrap());
        (seen, end, rejects)
    }

    /// Reads `input` one byte at a time (the hardest split) and tells whether the
    /// tracker found it ending inside a quoted field.
    fn ends_in_quotes(input: &[u8], quote: Option<u8>) -> bool {
        struct ByteByByte<'a>(&'a [u8]);
        impl std::io::Read for ByteByByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(out)) => {
                        *out = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let mut tracker = QuoteTracker::new(ByteByByte(input), quote, b',');
        let mut whole = QuoteTracker::new(input, quote, b',');
        std::io::copy(&mut tracker, &mut std::io::sink()).unwrap();
        std::io::copy(&mut whole, &mut std::io::sink()).unwrap();
        assert_eq!(
            tracker.unclosed_quote(),
            whole.unclosed_quote(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        tracker.unclosed_quote().is_some()
    }

    #[test]
    fn the_quote_tracker_follows_the_csv_reader_s_quoting() {
        let open: [&[u8]; 6] = [
            b"a,\"b\n",
            b"a,\"b\"\"\n",
            b"a,\"b\"c,\"d\n",
            b"a,\"b\"\n\"c,d\ne",
            b"\"",
            b"a,b\n\"x\ny\"\"",
        ];
        for input in open {
            assert!(ends_in_quotes(input, Some(b'"')), "{input:?}");
        }
        let closed: [&[u8]; 7] = [
            b"a,\"b\"\"\"\n",
            b"a,b\"c\n",
            b"\"x\ny\",z\n",
            b"a;\"b\n",
            b"a,b\n",
            b"a,\"b\"",
            b"",
        ];
        for input in closed {
            assert!(!ends_in_quotes(input, Some(b'"')), "{input:?}");
        }
        assert!(!ends_in_quotes(b"a,\"b\n", None), "no quoting");
    }

    #[test]
    fn a_quote_never_closed_refuses_its_row_and_stops_the_file() {
        let good = |n: u32| {
            format!("r{n},2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,acme-multisite\n")
        };
        let mut input = String::from("id,start,end,caller,callee,trunk\n");
        for n in 2..5 {
            input.push_str(&good(n));
        }
        // Line 5 starts a row whose first field spans two lines; its callee's quote,
        // on line 6, never closes: lines 6 to 9 are read as one field.
        input.push_str("\"r5\nsplit\",2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,\"0612345678,acme-multisite\n");
        for n in 7..10 {
            input.push_str(&good(n));
        }
        for workers in [1, 2] {
            let (seen, end, rejects) = read_to_end(MAPPING, workers, input.as_bytes());
            assert_eq!(seen.len(), 4, "{seen:?}");
            assert!(
                seen[3].starts_with("5 malformed: the quote opened on line 6 is never closed: the rest of the file (to line 9)"),
                "{}",
                seen[3]
            );
            assert_eq!(
                end.error.as_deref(),
                Some("line 6: a quote is never closed: the rest of the file was not read as rows")
            );
            let rejects = String::from_utf8(rejects.unwrap()).unwrap();
            assert!(
                rejects.contains("r9,2026"),
                "the swallowed rows are kept: {rejects}"
            );
        }
        // A header whose quote never closes: the file is not read, nothing refused.
        let (seen, end, _) = read_to_end(MAPPING, 1, b"id,\"start,end\nr1,2,3\n");
        assert!(seen.is_empty());
        assert_eq!(
            end.error.as_deref(),
            Some("line 1: a quote is never closed: the rest of the file was not read as rows")
        );
    }

    #[test]
    fn a_file_without_header_keeps_the_width_of_its_first_row() {
        let mapping = r#"
name = "positions"
header = false
[time]
format = "%Y-%m-%d %H:%M:%S"
[columns]
id = 1
invite = 2
end = 3
caller = 4
callee = 5
trunk = 6
[direction]
constant = "outbound"
"#;
        let row = "2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678";
        let input = format!("r1,{row},acme-multisite\n\nr3,{row}\nr4,{row},acme-multisite,x\nr5,{row},acme-multisite\nr6,{row},acme-multisite,, ");
        for workers in [1, 2] {
            let (seen, rejects) = read_as(mapping, workers, input.as_bytes());
            let refused: Vec<&String> = seen.iter().filter(|r| !r.contains("Import")).collect();
            assert_eq!(
                refused,
                [
                    "3 malformed: 5 fields where the first row has 6",
                    "4 malformed: 7 fields where the first row has 6"
                ]
            );
            assert_eq!(seen.len(), 5, "the blank line is skipped: {seen:?}");
            assert!(
                seen[4].starts_with("6 ") && seen[4].contains("Import"),
                "blank surplus fields are no shift: {seen:?}"
            );
            assert!(
                seen[3].starts_with("5 "),
                "lines count the blank line: {seen:?}"
            );
            assert_eq!(
                String::from_utf8(rejects).unwrap(),
                format!("r3,{row},,3,malformed: 5 fields where the first row has 6\nr4,{row},\"acme-multisite,x\",4,malformed: 7 fields where the first row has 6\n")
            );
        }
    }

    #[test]
    fn blank_fields_at_the_end_and_padding_rows_are_no_shift() {
        let row = "2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,acme-multisite";
        // The header ends with a delimiter, some rows do not; a spreadsheet pads with
        // rows of delimiters only.
        let input = format!(
            "id,start,end,caller,callee,trunk,\nr2,{row}\nr3,{row},\n,,,,,,\nr5,{row},, \nr6,{row},x\nr7,2026-10-05 10:00:00,0140000000\n"
        );
        for workers in [1, 2] {
            let (seen, _) = read_as(MAPPING, workers, input.as_bytes());
            let imported: Vec<&str> = seen
                .iter()
                .filter(|r| r.contains("Import"))
                .map(|r| r.split(' ').next().unwrap())
                .collect();
            assert_eq!(imported, ["2", "3", "5", "6"], "{seen:?}");
            let refused: Vec<&String> = seen.iter().filter(|r| !r.contains("Import")).collect();
            assert_eq!(
                refused,
                ["7 malformed: 3 fields where the header has 7"],
                "the padding row (line 4) is skipped like a blank line"
            );
        }
    }

    #[test]
    fn text_that_is_not_utf8_gets_the_fix_that_fits_the_format() {
        let teams = not_utf8(&Format::TeamsCsv, b"Andr\xe9").to_string();
        assert!(
            teams.contains("teams-csv files are UTF-8")
                && teams.contains("iconv -f latin1 -t utf-8"),
            "{teams}"
        );
        assert!(!teams.contains("mapping"), "{teams}");
        let edge = not_utf8(&Format::EdgeCsv, b"\xff").to_string();
        assert!(edge.contains("edge-csv files are UTF-8"), "{edge}");
        let mapped = Format::Mapping(Arc::new(Mapping::parse(MAPPING).unwrap()));
        let mapped = not_utf8(&mapped, b"Andr\xe9").to_string();
        assert!(mapped.contains("set encoding"), "{mapped}");
    }

    #[test]
    fn workers_deliver_rows_and_rejects_exactly_as_one_thread() {
        let input = file(3 * CHUNK_ROWS + 100);
        let (alone, alone_rejects) = read_with(1, &input);
        let refused = alone.iter().filter(|r| !r.contains("Import")).count();
        assert!(refused > 1_000, "{refused} refused rows");
        for reason in [
            "malformed: 5 fields where the header has 6",
            "malformed: 7 fields where the header has 6",
            "missing_field",
            "bad_number",
            "unknown_trunk",
            "bad_time",
            "inconsistent_times",
        ] {
            assert!(alone.iter().any(|r| r.contains(reason)), "no {reason}");
        }
        let last_line = input.iter().filter(|b| **b == b'\n').count() + 1;
        let last = alone.last().unwrap();
        assert!(
            last.starts_with(&format!("{last_line} bad_number")),
            "{last}"
        );
        for workers in [2, 3] {
            let (parallel, parallel_rejects) = read_with(workers, &input);
            assert_eq!(parallel, alone, "{workers} workers");
            assert_eq!(parallel_rejects, alone_rejects, "{workers} workers");
        }
    }

    #[test]
    fn a_utf8_chunk_refuses_exactly_its_rows_that_are_not_utf8() {
        let mapping = MAPPING.replace("latin-1", "utf-8");
        let ok = "2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,acme-multisite\n";
        let mut input = b"id,start,end,caller,callee,trunk\n".to_vec();
        for n in 0..2 * CHUNK_ROWS {
            match n {
                // "é" cut in two by the delimiter: the chunk's bytes side by side are
                // UTF-8, the two fields are not.
                3 => input.extend_from_slice(
                    b"r3,2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000\xc3,\xa90612345678,acme-multisite\n",
                ),
                5 => input.extend_from_slice(b"r5\xff,2026-10-05 10:00:00,2026-10-05 10:01:00,0140000000,0612345678,acme-multisite\n"),
                // Valid UTF-8 across fields, in a chunk that fails the whole check.
                7 => input.extend_from_slice("r7-é,".as_bytes()),
                _ => input.extend_from_slice(format!("r{n},").as_bytes()),
            }
            if ![3, 5].contains(&n) {
                input.extend_from_slice(ok.as_bytes());
            }
        }
        let (alone, alone_rejects) = read_as(&mapping, 1, &input);
        let refused: Vec<&String> = alone.iter().filter(|r| !r.contains("Import")).collect();
        assert_eq!(refused.len(), 2, "{refused:?}");
        // Row n is on line n + 2.
        assert!(refused[0].starts_with("5 malformed"), "{}", refused[0]);
        assert!(refused[1].starts_with("7 malformed"), "{}", refused[1]);
        assert!(
            alone[7].starts_with("9 ") && alone[7].contains("Import"),
            "{}",
            alone[7]
        );
        for workers in [2, 3] {
            let (parallel, parallel_rejects) = read_as(&mapping, workers, &input);
            assert_eq!(parallel, alone, "{workers} workers");
            assert_eq!(parallel_rejects, alone_rejects, "{workers} workers");
        }
    }
}
