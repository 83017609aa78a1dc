//! Reading and writing the CSV files of `numbers/`, atomically, under a lock.
//!
//! - CSV files are UTF-8 (a byte order mark is skipped), `,` separated, with a
//!   header row (line 1) whose columns are found by name; unknown or missing
//!   columns are errors, fields are trimmed. Every problem is reported with the
//!   file (relative to the provisioning directory), line and column, as the
//!   provisioning crate does.
//! - State files (`inventory.csv`, `port_requests.csv`) are replaced whole: written
//!   to a temporary file next to them, flushed to disk, then renamed over the old
//!   one, so a reader (the edge reloading) sees the old or the new file, never half
//!   of one.
//! - The journal is only appended to, and flushed before the state files are
//!   replaced: a change is never applied without its history. A crash between the
//!   two leaves journal rows of a change that did not happen; their `to` state
//!   differs from the current state, which `inventory history` shows.
//! - A command holds `numbers/.lock` (created exclusively) from loading to saving,
//!   so two commands cannot lose each other's changes. Names starting with `.` are
//!   outside the provisioning fingerprint.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use provisioning::{ErrorKind, ProvisioningError};

/// One data row: its 1-based line and its values in the order of the columns
/// asked for (empty when the column is absent).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) line: usize,
    pub(crate) values: Vec<String>,
}

impl Row {
    pub(crate) fn get(&self, i: usize) -> &str {
        self.values.get(i).map_or("", String::as_str)
    }
}

/// Reads a CSV file of `numbers/`. `file` is the path relative to the
/// provisioning directory (for messages); `columns` every column the format has,
/// `required` those that must be present.
pub(crate) fn read_csv(
    file: &str,
    bytes: &[u8],
    columns: &[&str],
    required: &[&str],
    errors: &mut Vec<ProvisioningError>,
) -> Vec<Row> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.replace("\r\n", "\n"),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            errors.push(ProvisioningError::new(
                ErrorKind::Syntax,
                file,
                Some(line),
                "",
                "",
                "the file is not UTF-8 text (save it as UTF-8)",
            ));
            return Vec::new();
        }
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => {
            errors.push(ProvisioningError::new(
                ErrorKind::Syntax,
                file,
                Some(1),
                "",
                "",
                format!("unreadable header: {e}"),
            ));
            return Vec::new();
        }
    };
    if headers.iter().all(String::is_empty) {
        return Vec::new();
    }
    let mut header_ok = true;
    for (i, h) in headers.iter().enumerate() {
        if !columns.contains(&h.as_str()) {
            errors.push(ProvisioningError::new(
                ErrorKind::UnknownField,
                file,
                Some(1),
                "",
                h.as_str(),
                format!(
                    "unknown column {h:?} (column {}; expected: {})",
                    i + 1,
                    columns.join(",")
                ),
            ));
            header_ok = false;
        } else if headers[..i].contains(h) {
            errors.push(ProvisioningError::new(
                ErrorKind::Conflict,
                file,
                Some(1),
                "",
                h.as_str(),
                format!("column {h:?} appears twice"),
            ));
            header_ok = false;
        }
    }
    for r in required {
        if !headers.iter().any(|h| h == r) {
            errors.push(ProvisioningError::new(
                ErrorKind::MissingField,
                file,
                Some(1),
                "",
                *r,
                format!("missing column {r:?} (expected: {})", columns.join(",")),
            ));
            header_ok = false;
        }
    }
    if !header_ok {
        return Vec::new();
    }
    let positions: Vec<Option<usize>> = columns
        .iter()
        .map(|c| headers.iter().position(|h| h == c))
        .collect();
    let mut rows = Vec::new();
    let mut lines = Lines::new(&text);
    for record in rdr.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| lines.line_at(p.byte() as usize));
                errors.push(ProvisioningError::new(
                    ErrorKind::Syntax,
                    file,
                    line,
                    "",
                    "",
                    format!("unreadable row: {e}"),
                ));
                continue;
            }
        };
        // The csv crate does not count blank lines: count line ends up to the
        // record's first byte instead.
        let line = record
            .position()
            .map_or(0, |p| lines.line_at(p.byte() as usize));
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() > headers.len() {
            errors.push(ProvisioningError::new(
                ErrorKind::Syntax,
                file,
                Some(line),
                "",
                "",
                format!(
                    "{} fields where the header has {} (a comma inside a value needs quotes)",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let values = positions
            .iter()
            .map(|p| p.and_then(|i| record.get(i)).unwrap_or("").to_owned())
            .collect();
        rows.push(Row { line, values });
    }
    rows
}

/// Lines of the records of a text, counted as the reader moves forward (counting
/// from the start for every record made loading quadratic in the file's size).
struct Lines<'t> {
    bytes: &'t [u8],
    at: usize,
    newlines: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Lines {
            bytes: text.as_bytes(),
            at: 0,
            newlines: 0,
        }
    }

    /// The 1-based line of the record starting at a byte offset (blank lines the
    /// reader skipped before it are stepped over).
    fn line_at(&mut self, offset: usize) -> usize {
        let mut offset = offset.min(self.bytes.len());
        while self.bytes.get(offset) == Some(&b'\n') {
            offset += 1;
        }
        if offset < self.at {
            self.at = 0;
            self.newlines = 0;
        }
        self.newlines += self.bytes[self.at..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.at = offset;
        self.newlines + 1
    }
}

/// Writes a CSV document (header and rows) to bytes.
pub(crate) fn csv_bytes(header: &[&str], rows: &[Vec<String>]) -> io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).map_err(io::Error::other)?;
    for row in rows {
        w.write_record(row).map_err(io::Error::other)?;
    }
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

/// Replaces `path` with `bytes`: temporary file, flush, rename, flush the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir);
    Ok(())
}

/// Appends CSV rows to `path`, writing the header first when the file is new or
/// empty, and flushes to disk.
pub(crate) fn append_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let is_new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let mut bytes = csv_bytes(header, rows)?;
    if !is_new {
        // Drop the header line csv_bytes wrote.
        let end = bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.drain(..end);
        // A file edited by hand may lack its final newline.
        let last = std::fs::read(path)?.last().copied();
        if last.is_some_and(|b| b != b'\n') {
            bytes.insert(0, b'\n');
        }
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    if is_new {
        sync_dir(path.parent().unwrap_or(Path::new(".")));
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Making the rename durable; not all platforms can open a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `numbers/.lock`, held while a command reads, changes and writes the files.
/// Removed when dropped.
#[derive(Debug)]
pub struct NumbersLock {
    path: PathBuf,
}

impl NumbersLock {
    /// Takes the lock of `<provisioning_dir>/numbers/`, creating the folder if
    /// needed.
    ///
    /// # Errors
    ///
    /// When another command holds it (the message names the lock file and its
    /// process id), or the folder cannot be written.
    pub fn acquire(provisioning_dir: &Path) -> io::Result<NumbersLock> {
        let dir = provisioning_dir.join(super::NUMBERS_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
        })?;
        let path = dir.join(".lock");
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                Ok(NumbersLock { path })
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{} exists: another number-portability command (process {}) is changing the inventory; \
                         wait for it, or remove the file if that process is gone",
                        path.display(),
                        holder.trim()
                    ),
                ))
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", path.display()),
            )),
        }
    }
}

impl Drop for NumbersLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [&str; 3] = ["a", "b", "c"];

    fn read(text: &str) -> (Vec<Row>, Vec<String>) {
        let mut errors = Vec::new();
        let rows = read_csv("numbers/x.csv", text.as_bytes(), &COLS, &["a"], &mut errors);
        (rows, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn columns_by_name_with_line_numbers() {
        let (rows, errors) = read("\u{feff}c,a\r\n3, 1\r\n\r\n\"x,y\",2\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].line, rows[0].get(0), rows[0].get(1), rows[0].get(2)),
            (2, "1", "", "3")
        );
        assert_eq!(
            (rows[1].line, rows[1].get(0), rows[1].get(2)),
            (4, "2", "x,y")
        );
    }

    #[test]
    fn header_and_row_problems() {
        let (rows, errors) = read("a,d\n1,2\n");
        assert!(rows.is_empty());
        assert_eq!(
            errors,
            ["numbers/x.csv:1: d: unknown column \"d\" (column 2; expected: a,b,c)"]
        );
        let (_, errors) = read("b\n1\n");
        assert_eq!(
            errors,
            ["numbers/x.csv:1: a: missing column \"a\" (expected: a,b,c)"]
        );
        let (rows, errors) = read("a,b\n1,2,3\n4,5\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            errors,
            ["numbers/x.csv:2: 3 fields where the header has 2 (a comma inside a value needs quotes)"]
        );
        let mut errors = Vec::new();
        read_csv("numbers/x.csv", b"a\n\xff\n", &COLS, &[], &mut errors);
        assert_eq!(
            errors[0].to_string(),
            "numbers/x.csv:2: the file is not UTF-8 text (save it as UTF-8)"
        );
    }

    #[test]
    fn atomic_write_and_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.csv");
        append_csv(&path, &COLS, &[vec!["1".into(), "2".into(), "x,y".into()]]).unwrap();
        append_csv(&path, &COLS, &[vec!["4".into(), "5".into(), "6".into()]]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,b,c\n1,2,\"x,y\"\n4,5,6\n"
        );
        std::fs::write(&path, "a,b,c\n1,2,3").unwrap();
        append_csv(&path, &COLS, &[vec!["4".into(), "5".into(), "6".into()]]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,b,c\n1,2,3\n4,5,6\n"
        );
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!dir.path().join(".j.csv.tmp").exists());
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let lock = NumbersLock::acquire(dir.path()).unwrap();
        let err = NumbersLock::acquire(dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("another number-portability command"),
            "{err}"
        );
        drop(lock);
        NumbersLock::acquire(dir.path()).unwrap();
    }
}
