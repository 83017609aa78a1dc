//! Streaming reader of JSON call-log rows, in constant memory whatever the file size.
//!
//! It accepts, one after the other in the same file:
//! - a Microsoft Graph response page, `{"@odata.context": ..., "value": [ROW, ...],
//!   "@odata.nextLink": ...}`: the rows of `value` are yielded one by one, the page
//!   itself is never held in memory (several pages may follow each other);
//! - a top-level array `[ROW, ...]`;
//! - JSON lines, or any sequence of top-level objects: each object is a row.
//!
//! Each row comes with the 1-based line where it starts, for `file:line` messages and
//! the record's source line. The scanner only tracks strings and brackets: a row with
//! a bad value (`tru`, a missing quote inside a balanced object) is still cut out
//! and fails when decoded, alone. A top-level row may span lines (`jq .` output), so a
//! bracket or quote left open on a JSON line would take the next lines with it: a
//! top-level object that cannot be scanned, or that spans lines and is not valid JSON,
//! is reported ([`JsonItem::Error`]) with the line where it starts and its text up to
//! the next line that starts, blanks aside, with `{` or `[` (for JSON lines, its own
//! line), and reading goes on at that line, reading again what the scan took past it
//! (at most [`MAX_ROW_BYTES`]: a row spanning lines stops there), so one broken JSON
//! line does not lose the others; inside a page or a top-level array there is no
//! safe place to resume: a structural error (a missing comma, a file cut short) is the
//! last item ([`JsonItem::Fatal`]) and the rest of the file is not read.

use std::io::{self, BufRead};

use serde::de::IgnoredAny;

/// Largest row accepted, in bytes (a Teams log row is well under 2 KiB).
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// One item of the input.
#[derive(Debug, PartialEq, Eq)]
pub enum JsonItem {
    /// A row's text.
    Row {
        /// Line where it starts.
        line: u64,
        /// Its bytes, exactly as in the file.
        bytes: Vec<u8>,
    },
    /// Text that is not a row; reading goes on at the next line.
    Error {
        /// Line where the bad text starts.
        line: u64,
        /// What is wrong, lowercase.
        message: String,
        /// The bad text (cut at [`MAX_ROW_BYTES`]): a broken row up to the next
        /// line that starts with `{` or `[`, other text to the end of its line.
        bytes: Vec<u8>,
    },
    /// Text after which nothing can be read safely (inside a page or a top-level
    /// array): the last item, the rest of the input is not read.
    Fatal {
        /// Line where the bad text starts, where reading stopped.
        line: u64,
        /// What is wrong, lowercase.
        message: String,
        /// The bad text, up to the end of its line or of the input (cut at
        /// [`MAX_ROW_BYTES`]).
        bytes: Vec<u8>,
    },
}

enum Context {
    /// Inside a top-level object; `capture` holds its text unless it turned out to
    /// be a page (a `value` array was found).
    TopObject {
        capture: Option<Vec<u8>>,
        line: u64,
        first: bool,
    },
    /// Inside an array whose elements are rows.
    Rows { first: bool },
}

/// Iterator over the rows of a JSON input.
pub struct JsonRows<R> {
    reader: R,
    line: u64,
    stack: Vec<Context>,
    done: bool,
    /// Bytes taken from `reader`, read from `pos`; after a broken top-level row, what
    /// followed its first line (at most [`MAX_ROW_BYTES`] + 2 bytes) and then the
    /// bytes that were left: read again.
    buf: Vec<u8>,
    pos: usize,
    /// The rest of `buf` while the input seems to end: set by [`Self::bump`] when a
    /// top-level row over several lines outgrew [`MAX_ROW_BYTES`], so that its text
    /// can be read again from its second line while it is all still held.
    held: Option<Vec<u8>>,
    /// Line of the top-level row being read (a row that may be read again), or
    /// `u64::MAX`.
    row_line: u64,
    /// Line of the `@odata.nextLink` key of the last top-level item, if it had one.
    next_link_line: Option<u64>,
}

type Step<T> = Result<T, String>;

impl<R: BufRead> JsonRows<R> {
    /// Reads rows from `reader`.
    pub fn new(reader: R) -> Self {
        JsonRows {
            reader,
            line: 1,
            stack: Vec::new(),
            done: false,
            buf: Vec::new(),
            pos: 0,
            held: None,
            row_line: u64::MAX,
            next_link_line: None,
        }
    }

    /// When the input's last item is a Graph page that links to a next one
    /// (`@odata.nextLink`): the line of that link. The export then goes on beyond
    /// this input.
    pub fn next_page_link_line(&self) -> Option<u64> {
        self.next_link_line
    }

    /// Lines read whole so far: after an I/O error, where reading stopped.
    pub fn lines_read(&self) -> u64 {
        self.line - 1
    }

    #[inline]
    fn peek(&mut self) -> io::Result<Option<u8>> {
        match self.buf.get(self.pos) {
            Some(&b) => Ok(Some(b)),
            None => self.refill(),
        }
    }

    /// Takes the next bytes of `reader` (none while a row is `held`).
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> io::Result<Option<u8>> {
        if self.held.is_some() {
            return Ok(None);
        }
        self.buf.clear();
        self.pos = 0;
        let chunk = self.reader.fill_buf()?;
        self.buf.extend_from_slice(chunk);
        let n = chunk.len();
        self.reader.consume(n);
        Ok(self.buf.first().copied())
    }

    /// Whether the next `n` bytes are in `buf` (false at the end of the input).
    fn ensure(&mut self, n: usize) -> io::Result<bool> {
        while self.buf.len() - self.pos < n && self.held.is_none() {
            let chunk = self.reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            let taken = chunk.len();
            self.buf.drain(..self.pos);
            self.pos = 0;
            self.buf.extend_from_slice(chunk);
            self.reader.consume(taken);
        }
        Ok(self.buf.len() - self.pos >= n)
    }

    /// Makes the bytes `held` readable again.
    fn release(&mut self) {
        if let Some(rest) = self.held.take() {
            self.buf = rest;
            self.pos = 0;
        }
    }

    #[inline]
    fn bump(&mut self, capture: Option<&mut Vec<u8>>) -> io::Result<Option<u8>> {
        let byte = self.peek()?;
        if let Some(b) = byte {
            self.pos += 1;
            self.count(b, capture);
        }
        Ok(byte)
    }

    /// Counts a byte moved past, adding it to `capture`.
    #[inline(always)]
    fn count(&mut self, b: u8, capture: Option<&mut Vec<u8>>) {
        if b == b'\n' {
            self.line += 1;
        }
        if let Some(buf) = capture {
            if buf.len() <= MAX_ROW_BYTES {
                buf.push(b);
            } else {
                self.full(b, buf);
            }
        }
    }

    /// `b` does not fit in `buf`, which holds [`MAX_ROW_BYTES`] + 1 bytes.
    #[cold]
    #[inline(never)]
    fn full(&mut self, b: u8, buf: &mut Vec<u8>) {
        if self.line > self.row_line {
            // A top-level row over several lines, too large to be held whole: stop
            // while all it read since its first line is still held (`buf` then holds
            // every byte from its second line on), so that it can be read again from
            // there.
            buf.push(b);
            self.held = Some(self.buf.split_off(self.pos));
        }
    }

    fn skip_whitespace(&mut self, mut capture: Option<&mut Vec<u8>>) -> io::Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump(capture.as_deref_mut())?;
                }
                // A byte-order mark at the start of the file.
                Some(0xEF) if self.stack.is_empty() => {
                    if self.ensure(3)? && self.buf[self.pos..].starts_with(&[0xEF, 0xBB, 0xBF]) {
                        self.pos += 3;
                    } else {
                        return Ok(Some(0xEF));
                    }
                }
                other => return Ok(other),
            }
        }
    }

    /// Reads a string (the opening quote is next), returning its raw content.
    fn read_string(&mut self, mut capture: Option<&mut Vec<u8>>) -> io::Result<Step<Vec<u8>>> {
        let start = self.line;
        self.bump(capture.as_deref_mut())?;
        let mut content = Vec::new();
        loop {
            match self.bump(capture.as_deref_mut())? {
                None => {
                    return Ok(Err(format!(
                        "unexpected end of file inside a string opened on line {start}"
                    )))
                }
                Some(b'"') => return Ok(Ok(content)),
                Some(b'\\') => {
                    content.push(b'\\');
                    if let Some(b) = self.bump(capture.as_deref_mut())? {
                        content.push(b);
                    }
                }
                Some(b) => {
                    if content.len() <= MAX_ROW_BYTES {
                        content.push(b);
                    }
                }
            }
        }
    }

    /// Reads one value of any kind, tracking only strings and brackets.
    fn read_value(&mut self, mut capture: Option<&mut Vec<u8>>) -> io::Result<Step<()>> {
        let start = self.line;
        match self.peek()? {
            None => Ok(Err(
                "unexpected end of file where a value was expected".into()
            )),
            Some(b'"') => Ok(self.read_string(capture)?.map(|_| ())),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        None => {
                            return Ok(Err(format!(
                                "unexpected end of file inside a value opened on line {start}"
                            )))
                        }
                        Some(b'"') => {
                            if let Err(e) = self.read_string(capture.as_deref_mut())? {
                                return Ok(Err(e));
                            }
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => depth -= 1,
                        Some(_) => {}
                    }
                    self.bump(capture.as_deref_mut())?;
                    if depth == 0 {
                        return Ok(Ok(()));
                    }
                }
            }
            Some(b'}' | b']' | b',' | b':') => {
                let b = self.bump(capture)?.unwrap_or(b' ');
                Ok(Err(format!(
                    "unexpected {:?} where a value was expected",
                    b as char
                )))
            }
            Some(_) => {
                // A scalar: up to the next delimiter.
                while let Some(b) = self.peek()? {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.bump(capture.as_deref_mut())?;
                }
                Ok(Ok(()))
            }
        }
    }

    /// Moves past the rest of the current line and its end, adding its text to `bytes`
    /// (without the line end), and keeps `bytes` to [`MAX_ROW_BYTES`].
    fn take_rest_of_line(&mut self, bytes: &mut Vec<u8>) -> io::Result<()> {
        while let Some(b) = self.bump(None)? {
            if b == b'\n' {
                break;
            }
            if bytes.len() <= MAX_ROW_BYTES {
                bytes.push(b);
            }
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        bytes.truncate(MAX_ROW_BYTES);
        Ok(())
    }

    /// Turns a problem into the item that reports it, with `bytes`, what was read of
    /// the bad text, completed to the end of its line. Inside a page or a top-level
    /// array reading ends ([`JsonItem::Fatal`]); elsewhere it goes on at the next line.
    fn error(&mut self, line: u64, message: String, mut bytes: Vec<u8>) -> io::Result<JsonItem> {
        let in_page = self
            .stack
            .iter()
            .any(|c| matches!(c, Context::TopObject { capture: None, .. }));
        let in_array = matches!(self.stack.first(), Some(Context::Rows { .. }));
        self.take_rest_of_line(&mut bytes)?;
        if in_page || in_array {
            self.done = true;
            return Ok(JsonItem::Fatal {
                line,
                message,
                bytes,
            });
        }
        self.stack.clear();
        Ok(JsonItem::Error {
            line,
            message,
            bytes,
        })
    }

    /// A top-level row that cannot be read: `bytes`, what was read of it from its `{`
    /// on `line`. Its text goes to the reject up to the next line that starts, blanks
    /// aside, with `{` or `[` (where a row or a page can start), and reading goes on
    /// there: for JSON lines, the row's own line only, whatever the scan of the row
    /// took with it (a bracket left open runs to the end of the file). What was read
    /// past that line is read again; lines read past the problem up to that line
    /// (none of which can start a row) go to the reject too.
    fn row_error(
        &mut self,
        line: u64,
        mut message: String,
        mut bytes: Vec<u8>,
    ) -> io::Result<JsonItem> {
        self.stack.clear();
        self.row_line = u64::MAX;
        if self.held.is_some() {
            // Not the end of the input: `bump` stopped a row over several lines.
            message = format!("row not closed within {MAX_ROW_BYTES} bytes");
        }
        let over_lines = memchr::memchr(b'\n', &bytes).is_some();
        match next_row_start(&bytes) {
            Ok(at) => {
                let resume = line + memchr::memchr_iter(b'\n', &bytes[..at]).count() as u64;
                let rest = match self.held.take() {
                    Some(rest) => rest,
                    None => self.buf.split_off(self.pos),
                };
                self.buf = bytes.split_off(at);
                self.buf.extend_from_slice(&rest);
                self.pos = 0;
                self.line = resume;
            }
            Err(at_line_start) => {
                self.release();
                self.skip_to_next_row(&mut bytes, at_line_start)?;
            }
        }
        if over_lines && self.peek()?.is_some() {
            message = format!("{message}; reading goes on at line {}", self.line);
        }
        let end = bytes
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            .map_or(0, |i| i + 1);
        bytes.truncate(end.min(MAX_ROW_BYTES));
        Ok(JsonItem::Error {
            line,
            message,
            bytes,
        })
    }

    /// Moves to the next line that starts, blanks aside, with `{` or `[`, or to the end
    /// of the input, adding the text passed to `bytes` (kept to [`MAX_ROW_BYTES`]);
    /// `at_line_start`: only blanks were read since the last line end.
    fn skip_to_next_row(&mut self, bytes: &mut Vec<u8>, mut at_line_start: bool) -> io::Result<()> {
        while let Some(b) = self.peek()? {
            match b {
                b'{' | b'[' if at_line_start => break,
                b'\n' => at_line_start = true,
                b' ' | b'\t' | b'\r' => {}
                _ => at_line_start = false,
            }
            self.bump(None)?;
            if bytes.len() <= MAX_ROW_BYTES {
                bytes.push(b);
            }
        }
        Ok(())
    }

    /// A problem inside a top-level object, found on line `here`: a row is reported at
    /// the line where its text starts (`line`), naming `here` when it is another line;
    /// a page (no `capture`) where reading stopped.
    fn object_error(
        &mut self,
        line: u64,
        here: u64,
        message: String,
        capture: Option<Vec<u8>>,
    ) -> io::Result<JsonItem> {
        match capture {
            Some(bytes) if here != line => {
                self.row_error(line, format!("{message} on line {here}"), bytes)
            }
            Some(bytes) => self.row_error(line, message, bytes),
            None => self.error(self.line, message, Vec::new()),
        }
    }

    fn step(&mut self) -> io::Result<Option<JsonItem>> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.stack.pop() {
                None => {
                    debug_assert!(
                        self.held.is_none(),
                        "a row stopped by `bump` was not reported"
                    );
                    self.row_line = u64::MAX;
                    let next = self.skip_whitespace(None)?;
                    let line = self.line;
                    if next.is_some() {
                        self.next_link_line = None;
                    }
                    match next {
                        None => return Ok(None),
                        Some(b'[') => {
                            self.bump(None)?;
                            self.stack.push(Context::Rows { first: true });
                        }
                        Some(b'{') => {
                            let mut capture = Vec::new();
                            self.bump(Some(&mut capture))?;
                            self.row_line = self.line;
                            self.stack.push(Context::TopObject {
                                capture: Some(capture),
                                line: self.line,
                                first: true,
                            });
                        }
                        Some(_) => {
                            let mut bytes = Vec::new();
                            while let Some(b) = self.peek()? {
                                if b == b'\n' {
                                    break;
                                }
                                self.bump(Some(&mut bytes))?;
                            }
                            return self
                                .error(line, "not a JSON object or array".into(), bytes)
                                .map(Some);
                        }
                    }
                }
                Some(Context::Rows { first }) => {
                    let next = self.skip_whitespace(None)?;
                    let line = self.line;
                    match next {
                        None => {
                            return self
                                .error(
                                    line,
                                    "unexpected end of file inside an array".into(),
                                    vec![],
                                )
                                .map(Some)
                        }
                        Some(b']') => {
                            self.bump(None)?;
                            continue; // back to the enclosing context
                        }
                        Some(b',') if !first => {
                            self.bump(None)?;
                            self.skip_whitespace(None)?;
                        }
                        Some(_) if first => {}
                        Some(b) => {
                            return self
                                .error(
                                    line,
                                    format!(
                                        "expected ',' or ']' between rows, found {:?}",
                                        b as char
                                    ),
                                    vec![],
                                )
                                .map(Some)
                        }
                    }
                    self.stack.push(Context::Rows { first: false });
                    let line = self.line;
                    let mut bytes = Vec::new();
                    if let Err(message) = self.read_value(Some(&mut bytes))? {
                        return self.error(line, message, bytes).map(Some);
                    }
                    if bytes.len() > MAX_ROW_BYTES {
                        bytes.truncate(MAX_ROW_BYTES);
                        return Ok(Some(JsonItem::Error {
                            line,
                            message: format!("row larger than {MAX_ROW_BYTES} bytes"),
                            bytes,
                        }));
                    }
                    return Ok(Some(JsonItem::Row { line, bytes }));
                }
                Some(Context::TopObject {
                    mut capture,
                    line,
                    first,
                }) => {
                    let next = self.skip_whitespace(capture.as_mut())?;
                    let here = self.line;
                    match next {
                        None => {
                            let message = format!(
                                "unexpected end of file inside the object opened on line {line}"
                            );
                            return match capture {
                                Some(bytes) => self.row_error(line, message, bytes),
                                None => self.error(line, message, Vec::new()),
                            }
                            .map(Some);
                        }
                        Some(b'}') => {
                            self.bump(capture.as_mut())?;
                            match capture {
                                Some(bytes) if self.line > line => {
                                    // Over several lines: a bracket or quote left open
                                    // may have taken the rows of the next lines with it.
                                    if bytes.len() > MAX_ROW_BYTES {
                                        // `bytes` holds all that was read (`bump`).
                                        self.release();
                                        let message =
                                            format!("row larger than {MAX_ROW_BYTES} bytes");
                                        return self.row_error(line, message, bytes).map(Some);
                                    }
                                    if let Err(e) = serde_json::from_slice::<IgnoredAny>(&bytes) {
                                        let message = invalid_json(line, &e);
                                        return self.row_error(line, message, bytes).map(Some);
                                    }
                                    return Ok(Some(JsonItem::Row { line, bytes }));
                                }
                                Some(bytes) if bytes.len() > MAX_ROW_BYTES => {
                                    return Ok(Some(JsonItem::Error {
                                        line,
                                        message: format!("row larger than {MAX_ROW_BYTES} bytes"),
                                        bytes: bytes[..MAX_ROW_BYTES].to_vec(),
                                    }))
                                }
                                Some(bytes) => return Ok(Some(JsonItem::Row { line, bytes })),
                                None => continue, // the end of a page
                            }
                        }
                        Some(b',') if !first => {
                            self.bump(capture.as_mut())?;
                            self.skip_whitespace(capture.as_mut())?;
                        }
                        Some(_) if first => {}
                        Some(b) => {
                            return self
                                .object_error(
                                    line,
                                    here,
                                    format!("expected ',' or '}}', found {:?}", b as char),
                                    capture,
                                )
                                .map(Some);
                        }
                    }
                    let here = self.line;
                    if self.peek()? != Some(b'"') {
                        return self
                            .object_error(line, here, "expected a quoted key".into(), capture)
                            .map(Some);
                    }
                    let key = match self.read_string(capture.as_mut())? {
                        Ok(key) => key,
                        Err(message) => {
                            // The end of the file: the message names where the key opened.
                            return self.object_error(line, line, message, capture).map(Some);
                        }
                    };
                    if self.skip_whitespace(capture.as_mut())? != Some(b':') {
                        let here = self.line;
                        return self
                            .object_error(line, here, "expected ':' after a key".into(), capture)
                            .map(Some);
                    }
                    self.bump(capture.as_mut())?;
                    let next = self.skip_whitespace(capture.as_mut())?;
                    if key == b"@odata.nextLink" && next == Some(b'"') {
                        self.next_link_line = Some(here);
                    }
                    if key == b"value" && next == Some(b'[') {
                        // A Graph page: its rows are the elements of `value`.
                        self.row_line = u64::MAX;
                        self.bump(None)?;
                        self.stack.push(Context::TopObject {
                            capture: None,
                            line,
                            first: false,
                        });
                        self.stack.push(Context::Rows { first: true });
                        continue;
                    }
                    let value_line = self.line;
                    if let Err(message) = self.read_value(capture.as_mut())? {
                        // At the end of the file the message names where the value opened.
                        let at_end = self.peek()?.is_none();
                        let here = if at_end { line } else { value_line };
                        return self.object_error(line, here, message, capture).map(Some);
                    }
                    self.stack.push(Context::TopObject {
                        capture,
                        line,
                        first: false,
                    });
                }
            }
        }
    }
}

/// Where reading can go on after a broken top-level row whose text read is `bytes`: the
/// first `{` or `[` that starts a line (blanks aside) after its first line; if there
/// is none, whether the text ends at the start of a line (only blanks since a line end).
fn next_row_start(bytes: &[u8]) -> Result<usize, bool> {
    let Some(first_end) = memchr::memchr(b'\n', bytes) else {
        return Err(false);
    };
    let mut at_line_start = true;
    for (i, &b) in bytes.iter().enumerate().skip(first_end + 1) {
        match b {
            b'{' | b'[' if at_line_start => return Ok(i),
            b'\n' => at_line_start = true,
            b' ' | b'\t' | b'\r' => {}
            _ => at_line_start = false,
        }
    }
    Err(at_line_start)
}

/// The message of a row over several lines that is not JSON, naming the line of the
/// problem in the file (`line`: where the row starts).
fn invalid_json(line: u64, e: &serde_json::Error) -> String {
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let what = text.strip_suffix(&position).unwrap_or(&text);
    match e.line() {
        0 => format!("not valid JSON: {what}"),
        n => format!("not valid JSON on line {}: {what}", line + n as u64 - 1),
    }
}

impl<R: BufRead> Iterator for JsonRows<R> {
    type Item = io::Result<JsonItem>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(item) => item.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<JsonItem> {
        JsonRows::new(text.as_bytes())
            .collect::<io::Result<Vec<_>>>()
            .unwrap()
    }

    fn row(line: u64, text: &str) -> JsonItem {
        JsonItem::Row {
            line,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_graph_page_yields_its_rows_with_their_lines() {
        let text = "{\n  \"@odata.context\": \"x\",\n  \"value\": [\n    {\"id\": \"a\", \"n\": [1, {\"b\": \"]}\"}]},\n    {\"id\": \"b\"}\n  ],\n  \"@odata.nextLink\": \"y\"\n}\n";
        assert_eq!(
            items(text),
            vec![
                row(4, r#"{"id": "a", "n": [1, {"b": "]}"}]}"#),
                row(5, r#"{"id": "b"}"#)
            ]
        );
    }

    #[test]
    fn a_last_page_linking_to_a_next_one_is_told() {
        let page = |link: &str| format!("{{\"value\": [{{\"id\": \"a\"}}]{link}}}\n");
        let link = ",\n\"@odata.nextLink\": \"https://graph.microsoft.com/next\"\n";
        let last_link = |text: &str| {
            let mut rows = JsonRows::new(text.as_bytes());
            while rows.next().is_some() {}
            rows.next_page_link_line()
        };
        assert_eq!(last_link(&page(link)), Some(2));
        assert_eq!(last_link(&(page(link) + &page(""))), None, "pages in a row");
        assert_eq!(last_link(&page("")), None);
        assert_eq!(last_link(&page(",\"@odata.nextLink\": null")), None);
        assert_eq!(
            last_link("{\"@odata.nextLink\": \"x\", \"value\": []}"),
            Some(1),
            "the link before the rows"
        );
    }

    #[test]
    fn json_lines_and_arrays_yield_each_object() {
        let text = "{\"id\":\"a\",\"value\":3}\n{\"id\":\"b\"}\n[{\"id\":\"c\"}]";
        assert_eq!(
            items(text),
            vec![
                row(1, r#"{"id":"a","value":3}"#),
                row(2, r#"{"id":"b"}"#),
                row(3, r#"{"id":"c"}"#)
            ]
        );
    }

    #[test]
    fn a_broken_line_is_reported_and_the_next_lines_still_read() {
        let text = "{\"id\":\"a\"}\n{\"id\" \"b\"}\n{\"id\":\"c\"}\n";
        let got = items(text);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], row(1, r#"{"id":"a"}"#));
        assert!(
            matches!(&got[1], JsonItem::Error { line: 2, message, .. } if message.contains("expected ':'")),
            "{got:?}"
        );
        assert_eq!(got[2], row(3, r#"{"id":"c"}"#));
    }

    #[test]
    fn a_truncated_page_is_an_error_not_a_hang() {
        let got = items("{\"value\": [{\"id\":\"a\"}, {\"id\": \"b\"");
        assert_eq!(got[0], row(1, r#"{"id":"a"}"#));
        assert!(
            matches!(&got[1], JsonItem::Fatal { message, bytes, .. }
                if message.contains("end of file") && bytes == br#"{"id": "b""#),
            "{got:?}"
        );
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_page_broken_partway_ends_reading_at_the_bad_text() {
        // A comma missing after the row of line 3: the row of line 4 cannot be told
        // from the rest of a damaged file.
        let text =
            "{\"value\": [\n{\"id\":\"a\"},\n{\"id\":\"b\"}\n{\"id\":\"c\"},\n{\"id\":\"d\"}\n]}\n";
        let got = items(text);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[..2], [row(2, r#"{"id":"a"}"#), row(3, r#"{"id":"b"}"#)]);
        assert_eq!(
            got[2],
            JsonItem::Fatal {
                line: 4,
                message: "expected ',' or ']' between rows, found '{'".into(),
                bytes: br#"{"id":"c"},"#.to_vec(),
            }
        );
        // The same in a top-level array, and a stray comma.
        let got = items("[{\"id\":\"a\"},\n\n ,{\"id\":\"b\"}]");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            matches!(&got[1], JsonItem::Fatal { line: 3, bytes, .. } if bytes == br#",{"id":"b"}]"#),
            "{got:?}"
        );
    }

    #[test]
    fn errors_are_reported_on_the_line_where_the_bad_text_starts() {
        let got = items("{\"id\":\"x1\"}\n\n\n  oops\n{\"id\":\"x2\"}\n");
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got[1],
            JsonItem::Error {
                line: 4,
                message: "not a JSON object or array".into(),
                bytes: b"oops".to_vec(),
            }
        );
        assert_eq!(got[2], row(5, r#"{"id":"x2"}"#));
        // Inside an object over several lines: where the object starts, naming the
        // line of the problem.
        let got = items("\n{\n\"id\": \"a\",\n\"x\" 1\n");
        assert_eq!(
            got[0],
            JsonItem::Error {
                line: 2,
                message: "expected ':' after a key on line 4".into(),
                bytes: b"{\n\"id\": \"a\",\n\"x\" 1".to_vec(),
            }
        );
    }

    #[test]
    fn a_broken_json_line_goes_whole_to_the_reject() {
        let text = "{\"id\":\"broken\", \"callType\": \"ByotOut\" \"x\":1}\r\n{\"id\": ,\"x\":1}\n{\"id\":\"ok\"}\n";
        let got = items(text);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            matches!(&got[0], JsonItem::Error { line: 1, bytes, .. }
                if bytes == br#"{"id":"broken", "callType": "ByotOut" "x":1}"#),
            "{got:?}"
        );
        assert!(
            matches!(&got[1], JsonItem::Error { line: 2, bytes, .. } if bytes == br#"{"id": ,"x":1}"#),
            "{got:?}"
        );
        assert_eq!(got[2], row(3, r#"{"id":"ok"}"#));
        // Kept to the largest row.
        let long = format!(
            "{{\"id\" \"{}\"}}\n{{\"id\":\"ok\"}}",
            "x".repeat(MAX_ROW_BYTES + 10)
        );
        let got = items(&long);
        assert!(
            matches!(&got[0], JsonItem::Error { bytes, .. } if bytes.len() == MAX_ROW_BYTES),
            "{:?}",
            got.get(1)
        );
        assert_eq!(got[1], row(2, r#"{"id":"ok"}"#));
    }

    #[test]
    fn a_read_error_leaves_the_count_of_lines_read_whole() {
        /// Gives its text, then fails, like a gzip file cut short.
        struct CutShort(&'static [u8]);
        impl io::Read for CutShort {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("incomplete deflate stream"));
                }
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut rows = JsonRows::new(io::BufReader::new(CutShort(
            b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id",
        )));
        assert_eq!(rows.next().unwrap().unwrap(), row(1, r#"{"id":"a"}"#));
        assert_eq!(rows.next().unwrap().unwrap(), row(2, r#"{"id":"b"}"#));
        assert!(rows.next().unwrap().is_err());
        assert_eq!(rows.lines_read(), 2);
        assert!(rows.next().is_none());
    }

    #[test]
    fn escaped_quotes_do_not_end_strings() {
        let text = r#"{"value":[{"id":"a\"}]"}]}"#;
        assert_eq!(items(text), vec![row(1, r#"{"id":"a\"}]"}"#)]);
    }

    #[test]
    fn oversized_rows_are_refused_without_holding_them() {
        let big = format!(
            "[{{\"id\":\"{}\"}}, {{\"id\":\"b\"}}]",
            "x".repeat(MAX_ROW_BYTES + 10)
        );
        let got = items(&big);
        assert!(
            matches!(&got[0], JsonItem::Error { message, bytes, .. } if message.contains("larger than") && bytes.len() == MAX_ROW_BYTES)
        );
        assert_eq!(got[1], row(1, r#"{"id":"b"}"#));
    }

    /// JSON lines `{"id":"r<n>"}` for `n` in `from..to`, one per line.
    fn json_lines(from: usize, to: usize) -> String {
        (from..to)
            .map(|n| format!("{{\"id\":\"r{n}\"}}\n"))
            .collect()
    }

    /// The rows expected of [`json_lines`], the first on line `line`.
    fn rows_from(line: u64, from: usize, to: usize) -> Vec<JsonItem> {
        (from..to)
            .zip(line..)
            .map(|(n, l)| row(l, &format!("{{\"id\":\"r{n}\"}}")))
            .collect()
    }

    fn error_at(item: &JsonItem) -> (u64, &str, &[u8]) {
        match item {
            JsonItem::Error {
                line,
                message,
                bytes,
            } => (*line, message, bytes),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn an_unclosed_bracket_costs_only_its_line() {
        // Left open to the end of the file.
        let text = format!(
            "{}{{\"id\": \"b\", \"x\": [1, 2\n{}",
            json_lines(0, 3),
            json_lines(3, 8)
        );
        let got = items(&text);
        assert_eq!(got.len(), 9, "{got:?}");
        assert_eq!(got[..3], rows_from(1, 0, 3));
        assert_eq!(
            error_at(&got[3]),
            (
                4,
                "unexpected end of file inside a value opened on line 4; reading goes on at line 5",
                &br#"{"id": "b", "x": [1, 2"#[..]
            )
        );
        assert_eq!(got[4..], rows_from(5, 3, 8));
        // Closed by a stray bracket further on: the object scanned is not JSON.
        let text = format!(
            "{{\"id\": \"b\", \"x\": [1, 2\n{}{{\"id\": \"c\", \"y\": 1]}}}}\n{}",
            json_lines(0, 3),
            json_lines(3, 5)
        );
        let got = items(&text);
        assert_eq!(got.len(), 7, "{got:?}");
        let (line, message, bytes) = error_at(&got[0]);
        assert_eq!((line, bytes), (1, &br#"{"id": "b", "x": [1, 2"#[..]));
        assert!(
            message.starts_with("not valid JSON on line 2: ")
                && message.ends_with("; reading goes on at line 2"),
            "{message}"
        );
        assert_eq!(got[1..4], rows_from(2, 0, 3));
        let (line, message, bytes) = error_at(&got[4]);
        assert_eq!((line, bytes), (5, &br#"{"id": "c", "y": 1]}}"#[..]));
        assert!(message.contains("expected ',' or '}'"), "{message}");
        assert_eq!(got[5..], rows_from(6, 3, 5));
    }

    #[test]
    fn a_line_cut_short_costs_only_its_line() {
        // Cut inside a string, inside a value, after a comma, before the closing brace.
        for cut in [
            r#"{"id": "b", "name": "Ali"#,
            r#"{"id": "b", "x": {"y": 1"#,
            r#"{"id": "b","#,
            r#"{"id": "b""#,
        ] {
            let text = format!("{}{cut}\r\n{}", json_lines(0, 2), json_lines(2, 6));
            let got = items(&text);
            assert_eq!(got.len(), 7, "{cut}: {got:?}");
            assert_eq!(got[..2], rows_from(1, 0, 2));
            let (line, message, bytes) = error_at(&got[2]);
            assert_eq!((line, bytes), (3, cut.as_bytes()), "{message}");
            assert!(message.ends_with("reading goes on at line 4"), "{message}");
            assert_eq!(got[3..], rows_from(4, 2, 6), "{cut}");
        }
        // An odd quote: the string runs on to the next line.
        let text = format!("{{\"id\": \"b}}\n{}", json_lines(0, 3));
        let got = items(&text);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(error_at(&got[0]).2, br#"{"id": "b}"#);
        assert_eq!(got[1..], rows_from(2, 0, 3));
        // Two broken lines in a row: the second is read again, then the third.
        let text = format!("{{\"a\": [1\n{{\"b\": [2\n{}", json_lines(0, 2));
        let got = items(&text);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            (error_at(&got[0]).0, error_at(&got[0]).2),
            (1, &b"{\"a\": [1"[..])
        );
        assert_eq!(
            (error_at(&got[1]).0, error_at(&got[1]).2),
            (2, &b"{\"b\": [2"[..])
        );
        assert_eq!(got[2..], rows_from(3, 0, 2));
    }

    #[test]
    fn rows_spanning_lines_are_read_whole() {
        // `jq .` output: rows over several lines, nested values on lines of their own.
        let first = "{\n  \"id\": \"a\",\n  \"n\": [\n    {\n      \"b\": \"]\"\n    }\n  ],\n  \"m\": {\n    \"c\": 1\n  }\n}";
        let second = "{\n  \"id\": \"b\"\n}";
        let text = format!("{first}\n{second}\n{{\"id\":\"c\"}}\n");
        assert_eq!(
            items(&text),
            vec![row(1, first), row(12, second), row(15, r#"{"id":"c"}"#)]
        );
    }

    #[test]
    fn a_broken_row_spanning_lines_is_rejected_up_to_the_next_row() {
        // A missing colon on line 3: the row's lines go to the reject, none of them
        // can start a row; reading goes on at the next row.
        let text = "{\n  \"id\": \"a\",\n  \"x\" 1,\n  \"y\": 2\n}\n{\n  \"id\": \"b\"\n}\n";
        let got = items(text);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got[0],
            JsonItem::Error {
                line: 1,
                message: "expected ':' after a key on line 3; reading goes on at line 6".into(),
                bytes: b"{\n  \"id\": \"a\",\n  \"x\" 1,\n  \"y\": 2\n}".to_vec(),
            }
        );
        assert_eq!(got[1], row(6, "{\n  \"id\": \"b\"\n}"));
        // A bad value is found once the row is scanned, then the same.
        let text = "{\n  \"id\": tru\n}\n{\n  \"id\": \"b\"\n}\n";
        let got = items(text);
        assert_eq!(got.len(), 2, "{got:?}");
        let (line, message, bytes) = error_at(&got[0]);
        assert_eq!((line, bytes), (1, &b"{\n  \"id\": tru\n}"[..]));
        assert!(
            message.starts_with("not valid JSON on line 3: ")
                && message.ends_with("; reading goes on at line 4"),
            "{message}"
        );
        assert_eq!(got[1], row(4, "{\n  \"id\": \"b\"\n}"));
        // Text that cannot start a row after a broken line goes with it.
        let got = items("{\"id\" \"b\"}\n  oops\n{\"id\":\"c\"}\n");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(error_at(&got[0]).2, b"{\"id\" \"b\"}\n  oops");
        assert_eq!(got[1], row(3, r#"{"id":"c"}"#));
    }

    #[test]
    fn a_row_left_open_stops_at_the_largest_row_and_the_next_lines_are_read() {
        // More than MAX_ROW_BYTES of rows after the line left open.
        let count = MAX_ROW_BYTES / 12 + 100;
        let text = format!("{{\"x\": [1, 2\n{}", json_lines(0, count));
        let got = items(&text);
        assert_eq!(got.len(), count + 1);
        assert_eq!(
            got[0],
            JsonItem::Error {
                line: 1,
                message: format!(
                    "row not closed within {MAX_ROW_BYTES} bytes; reading goes on at line 2"
                ),
                bytes: b"{\"x\": [1, 2".to_vec(),
            }
        );
        assert!(
            got[1..] == rows_from(2, 0, count),
            "rows after the broken line"
        );
        // The line left open is itself larger than MAX_ROW_BYTES.
        let text = format!(
            "{{\"x\": [{}\n{}",
            "1,".repeat(MAX_ROW_BYTES),
            json_lines(0, 3)
        );
        let got = items(&text);
        assert_eq!(got.len(), 4, "{:?}", &got[1..]);
        let (line, message, bytes) = error_at(&got[0]);
        assert_eq!(
            (line, message, bytes.len()),
            (
                1,
                &*format!("row not closed within {MAX_ROW_BYTES} bytes; reading goes on at line 2"),
                MAX_ROW_BYTES
            )
        );
        assert_eq!(got[1..], rows_from(2, 0, 3));
        // A row spanning lines over MAX_ROW_BYTES: refused, its lines that cannot
        // start a row with it.
        let big = format!(
            "{{\n\"id\": \"a\",\n\"x\": \"{}\"\n}}",
            "y".repeat(MAX_ROW_BYTES)
        );
        let got = items(&format!("{big}\n{}", json_lines(0, 2)));
        assert_eq!(got.len(), 3, "{:?}", &got[1..]);
        let (line, message, bytes) = error_at(&got[0]);
        assert_eq!(
            (line, message, bytes.len()),
            (
                1,
                &*format!("row not closed within {MAX_ROW_BYTES} bytes; reading goes on at line 5"),
                MAX_ROW_BYTES
            )
        );
        assert_eq!(got[1..], rows_from(5, 0, 2));
        // Closed right at the limit, one byte either side of it.
        for size in MAX_ROW_BYTES - 1..=MAX_ROW_BYTES + 3 {
            let big = format!("{{\n\"x\": \"{}\"\n}}", "y".repeat(size - 11));
            assert_eq!(big.len(), size);
            let got = items(&format!("{big}\n{}", json_lines(0, 2)));
            assert_eq!(got.len(), 3, "{size}: {:?}", &got[1..]);
            if size <= MAX_ROW_BYTES {
                assert_eq!(got[0], row(1, &big));
            } else {
                let (line, message, bytes) = error_at(&got[0]);
                assert_eq!((line, bytes.len()), (1, MAX_ROW_BYTES), "{size}");
                assert!(
                    message.ends_with("; reading goes on at line 4"),
                    "{message}"
                );
            }
            assert_eq!(got[1..], rows_from(4, 0, 2), "{size}");
        }
    }

    #[test]
    fn small_reads_give_the_same_items() {
        let texts = [
            format!("\u{feff}{}", json_lines(0, 3)),
            format!("{}{{\"x\": [1, 2\n{}", json_lines(0, 2), json_lines(2, 5)),
            format!("{{\"a\": [1\n{{\"b\": \"2\n{}", json_lines(0, 3)),
            "{\n  \"id\": \"a\",\n  \"x\" 1\n}\n{\n  \"id\": \"b\"\n}\n".to_string(),
            "{\"value\": [\n{\"id\":\"a\"},\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n]}\n".to_string(),
        ];
        for text in &texts {
            let small = JsonRows::new(io::BufReader::with_capacity(3, text.as_bytes()))
                .collect::<io::Result<Vec<_>>>()
                .unwrap();
            assert_eq!(small, items(text), "{text}");
        }
        assert_eq!(items(&texts[0]), rows_from(1, 0, 3), "the byte-order mark");
    }
}
