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
//! reported with its line and skipped up to the next line, so one broken JSON line
//! does not lose the others; inside a page, a structural error ends the file.

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
    /// Text that is not a row; reading goes on after it when it can.
    Error {
        /// Line of the problem.
        line: u64,
        /// What is wrong, lowercase.
        message: String,
        /// What was read of the bad text (cut at [`MAX_ROW_BYTES`]).
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
                let b = self.bump(None)?.unwrap_or(b' ');
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

    /// After an error in a top-level object: drop the context and skip to the next line.
    fn resync(&mut self) -> io::Result<()> {
        self.stack.clear();
        while let Some(b) = self.bump(None)? {
            if b == b'\n' {
                break;
            }
        }
        Ok(())
    }

    fn error(&mut self, line: u64, message: String, bytes: Vec<u8>) -> io::Result<JsonItem> {
        let in_page = self
            .stack
            .iter()
            .any(|c| matches!(c, Context::TopObject { capture: None, .. }));
        if in_page || matches!(self.stack.first(), Some(Context::Rows { .. })) {
            // Inside a page or a top-level array there is no safe place to resume.
            self.done = true;
            return Ok(JsonItem::Error {
                line,
                message: format!("{message}; the rest of the file is not read"),
                bytes,
            });
        }
        self.resync()?;
        Ok(JsonItem::Error {
            line,
            message,
            bytes,
        })
    }

    fn step(&mut self) -> io::Result<Option<JsonItem>> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.stack.pop() {
                None => {
                    let line = self.line;
                    match self.skip_whitespace(None)? {
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
                    let line = self.line;
                    match self.skip_whitespace(None)? {
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
                    let here = self.line;
                    match self.skip_whitespace(capture.as_mut())? {
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
                            let bytes = capture.unwrap_or_default();
                            return self
                                .error(
                                    here,
                                    format!("expected ',' or '}}', found {:?}", b as char),
                                    bytes,
                                )
                                .map(Some);
                        }
                    }
                    let here = self.line;
                    if self.peek()? != Some(b'"') {
                        let bytes = capture.unwrap_or_default();
                        return self
                            .error(here, "expected a quoted key".into(), bytes)
                            .map(Some);
                    }
                    let key = match self.read_string(capture.as_mut())? {
                        Ok(key) => key,
                        Err(message) => {
                            let bytes = capture.unwrap_or_default();
                            return self.error(here, message, bytes).map(Some);
                        }
                    };
                    if self.skip_whitespace(capture.as_mut())? != Some(b':') {
                        let bytes = capture.unwrap_or_default();
                        return self
                            .error(self.line, "expected ':' after a key".into(), bytes)
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
                    if let Err(message) = self.read_value(capture.as_mut())? {
                        let bytes = capture.unwrap_or_default();
                        return self.error(self.line, message, bytes).map(Some);
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
            matches!(&got[1], JsonItem::Error { message, .. } if message.contains("end of file")),
            "{got:?}"
        );
        assert_eq!(got.len(), 2);
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
