//! Opening input files: plain or gzip-compressed (recognised by its magic bytes,
//! whatever the file is called), read through a buffer so that a file of any size
//! streams in constant memory, with a counter of the bytes read from disk for the
//! progress display. Directories given on the command line expand to the files they
//! hold.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Read buffer: large enough that reading is never the bottleneck.
const BUFFER_BYTES: usize = 256 * 1024;

/// The gzip magic number (RFC 1952, section 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Counts the bytes read from the underlying file (compressed bytes for gzip), and
/// fails every read once `stop` is set, so that a run asked to stop leaves the file
/// at the next buffer instead of reading it to the end.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("the run was stopped"));
        }
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` for reading, decompressing gzip input on the fly; `read` counts the
/// bytes taken from the file; once `stop` is set, reading fails.
///
/// # Errors
/// When the file cannot be opened or its first bytes cannot be read.
pub fn open(
    path: &Path,
    read: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> io::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path)?;
    let counting = Counting {
        inner: file,
        read,
        stop,
    };
    let mut buffered = BufReader::with_capacity(BUFFER_BYTES, counting);
    let head = buffered.fill_buf()?;
    if head.starts_with(&GZIP_MAGIC) {
        let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        Ok(Box::new(BufReader::with_capacity(BUFFER_BYTES, decoder)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Expands the command line's paths: a file stays itself, a directory becomes every
/// regular file under it, recursively, sorted by path, leaving out hidden files and
/// reject files (`*.rejects.*`) so that a directory can be imported again after its
/// rejects were written beside the inputs.
///
/// # Errors
/// A path that does not exist or a directory that cannot be listed.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || is_reject_file(&name) {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            found.push(path);
        }
    }
    Ok(())
}

/// True for the names this tool gives its reject files.
pub fn is_reject_file(name: &str) -> bool {
    name.contains(".rejects.")
}

/// The file name without a `.gz` suffix, split into stem and extension:
/// `teams-2026-10.csv.gz` gives (`teams-2026-10`, `csv`).
pub fn stem_and_extension(path: &Path) -> (String, Option<String>) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    let name = name.strip_suffix(".gz").unwrap_or(&name).to_string();
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), Some(ext.to_string())),
        _ => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_recognised_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.csv"); // no .gz suffix on purpose
        let mut encoder =
            flate2::write::GzEncoder::new(File::create(&path).unwrap(), Default::default());
        encoder.write_all(b"a,b\n1,2\n").unwrap();
        encoder.finish().unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let mut text = String::new();
        open(&path, counter.clone(), Arc::default())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "a,b\n1,2\n");
        assert_eq!(
            counter.load(Ordering::Relaxed),
            path.metadata().unwrap().len()
        );
    }

    #[test]
    fn reading_fails_once_the_run_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.csv");
        // Twice the read buffer: the first buffer is read before the stop.
        std::fs::write(&path, vec![b'x'; 2 * BUFFER_BYTES]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut input = open(&path, Arc::default(), stop.clone()).unwrap();
        let mut first = vec![0; BUFFER_BYTES];
        input.read_exact(&mut first).unwrap();
        stop.store(true, Ordering::Relaxed);
        let error = input.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(error.to_string(), "the run was stopped");
    }

    #[test]
    fn directories_expand_sorted_without_hidden_or_reject_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.csv", "a.csv", ".hidden", "a.rejects.csv", "sub/c.csv"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let files = expand(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["a.csv", "b.csv", "sub/c.csv"]);
        let err = expand(&[dir.path().join("missing")]).unwrap_err();
        assert!(
            err.contains("cannot read") && err.contains("missing"),
            "{err}"
        );
    }

    #[test]
    fn stems_drop_the_gzip_suffix() {
        assert_eq!(
            stem_and_extension(Path::new("/x/teams.csv.gz")),
            ("teams".into(), Some("csv".into()))
        );
        assert_eq!(stem_and_extension(Path::new("log")), ("log".into(), None));
    }
}
