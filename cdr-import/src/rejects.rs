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
//! on the first reject only, so a clean import leaves nothing behind.

use crate::draft::RowError;
use crate::mapping::Encoding;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// The reject file of one input, opened on the first reject.
pub struct Rejects {
    path: PathBuf,
    layout: RejectLayout,
    output: Option<Output>,
    written: u64,
}

impl Rejects {
    /// Rejects of `input` go to `dir`; nothing is created until the first one.
    pub fn new(dir: &Path, input: &Path, layout: RejectLayout) -> Rejects {
        let (stem, ext) = crate::input::stem_and_extension(input);
        let ext = match layout {
            RejectLayout::Json => "jsonl".to_string(),
            RejectLayout::Csv { .. } => ext.unwrap_or_else(|| "csv".into()),
        };
        Rejects {
            path: dir.join(format!("{stem}.rejects.{ext}")),
            layout,
            output: None,
            written: 0,
        }
    }

    /// Sets the header once the input's first line was read.
    pub fn set_header(&mut self, header: Vec<Vec<u8>>) {
        if let RejectLayout::Csv { header: h, .. } = &mut self.layout {
            *h = Some(header);
        }
    }

    /// The file, if any reject was written.
    pub fn path(&self) -> Option<&Path> {
        (self.written > 0).then_some(self.path.as_path())
    }

    fn open(&mut self) -> std::io::Result<&mut Output> {
        if self.output.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file = BufWriter::new(File::create(&self.path)?);
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

    /// Writes a refused CSV row (its raw fields).
    ///
    /// # Errors
    /// When the reject file cannot be written.
    pub fn write_fields(
        &mut self,
        fields: &[&[u8]],
        line: u64,
        error: &RowError,
    ) -> std::io::Result<()> {
        let encoding = match &self.layout {
            RejectLayout::Csv { encoding, .. } => *encoding,
            RejectLayout::Json => Encoding::Utf8,
        };
        let reason = error.to_string();
        match self.open()? {
            Output::Csv { writer } => {
                let mut row: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
                row.push(line.to_string().into_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::Reason;

    #[test]
    fn csv_rejects_keep_the_layout_and_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let mut rejects = Rejects::new(
            dir.path(),
            Path::new("/in/calls.txt.gz"),
            RejectLayout::Csv {
                delimiter: b';',
                quote: Some(b'"'),
                encoding: Encoding::Latin1,
                header: None,
            },
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

    #[test]
    fn json_rejects_are_the_row_plus_line_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut rejects = Rejects::new(dir.path(), Path::new("log.json"), RejectLayout::Json);
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
