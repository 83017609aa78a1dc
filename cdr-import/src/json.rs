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
//! and fails when decoded, alone. A top-level object that cannot be scanned is
//! reported ([`JsonItem::Error`]) with the line where it starts and its text up to the
//! end of the line of the problem, and reading goes on at the next line, so one broken
//! JSON line does not lose the others; inside a page or a top-level array there is no
//! safe place to resume: a structural error (a missing comma, a file cut short) is the
//! last item ([`JsonItem::Fatal`]) and the rest of the file is not read.

use std::io::{self, BufRead};

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
        /// The bad text, up to the end of the line of the problem (cut at
        /// [`MAX_ROW_BYTES`]).
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
        }
    }

    /// Lines read whole so far: after an I/O error, where reading stopped.
    pub fn lines_read(&self) -> u64 {
        self.line - 1
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(self.reader.fill_buf()?.first().copied())
    }

    fn bump(&mut self, capture: Option<&mut Vec<u8>>) -> io::Result<Option<u8>> {
        let byte = self.peek()?;
        if let Some(b) = byte {
            self.reader.consume(1);
            if b == b'\n' {
                self.line += 1;
            }
            if let Some(buf) = capture {
                if buf.len() < MAX_ROW_BYTES + 1 {
                    buf.push(b);
                }
            }
        }
        Ok(byte)
    }

    fn skip_whitespace(&mut self, mut capture: Option<&mut Vec<u8>>) -> io::Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\r' | b'\n') => {
                    self.bump(capture.as_deref_mut())?;
                }
                // A byte-order mark at the start of the file.
                Some(0xEF) if self.stack.is_empty() => {
                    let buf = self.reader.fill_buf()?;
                    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                        self.reader.consume(3);
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
                self.error(line, format!("{message} on line {here}"), bytes)
            }
            Some(bytes) => self.error(line, message, bytes),
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
                    let next = self.skip_whitespace(None)?;
                    let line = self.line;
                    match next {
                        None => return Ok(None),
                        Some(b'[') => {
                            self.bump(None)?;
                            self.stack.push(Context::Rows { first: true });
                        }
                        Some(b'{') => {
                            let mut capture = Vec::new();
                            self.bump(Some(&mut capture))?;
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
                            let bytes = capture.unwrap_or_default();
                            return self
                                .error(
                                    line,
                                    format!("unexpected end of file inside the object opened on line {line}"),
                                    bytes,
                                )
                                .map(Some);
                        }
                        Some(b'}') => {
                            self.bump(capture.as_mut())?;
                            match capture {
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
                    if key == b"value" && next == Some(b'[') {
                        // A Graph page: its rows are the elements of `value`.
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
}
