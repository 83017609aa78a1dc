//! Reading the provisioning directory once: the fingerprint of every file in the
//! tree, and the contents of the files this crate interprets.
//!
//! The fingerprint is the hex SHA-256 of every regular file below the directory,
//! taken in the byte order of their relative paths (`/`-separated); for each file
//! it hashes the path, a zero byte, the length as 8 big-endian bytes, then the
//! contents. Files and folders whose name starts with `.` (`.git`, editor swap
//! files) are left out, so that versioning the directory with git does not change
//! it. Files the loader does not interpret (`plans.toml`, `numbers/`) are included:
//! the fingerprint identifies the whole provisioning version a rating run used.
//!
//! The files that are parsed are kept from the same read that is hashed, so the
//! fingerprint describes exactly what was validated.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, ProvisioningError};

/// How deep folders may nest below the provisioning directory (it also stops
/// symbolic link loops).
const MAX_DEPTH: usize = 16;

/// What was read from the directory.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Hex SHA-256 of the whole tree.
    pub(crate) fingerprint: String,
    /// The contents of the files that were asked for, by relative path.
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    /// False when the directory itself could not be read.
    pub(crate) readable: bool,
}

/// Reads the tree below `dir`, keeping the contents of the files for which
/// `keep(relative_path)` is true. Unreadable files and folders are reported.
pub(crate) fn read_snapshot(
    dir: &Path,
    keep: impl Fn(&str) -> bool,
) -> (Snapshot, Vec<ProvisioningError>) {
    let mut errors = Vec::new();
    let mut snapshot = Snapshot::default();
    let mut paths = Vec::new();
    match fs::read_dir(dir) {
        Ok(_) => {
            snapshot.readable = true;
            list_files(dir, "", 0, &mut paths, &mut errors);
        }
        Err(e) => errors.push(io_error(
            ".",
            format!(
                "cannot read the provisioning directory {}: {e}",
                dir.display()
            ),
        )),
    }
    paths.sort();

    let mut hasher = Sha256::new();
    for (relative, path) in paths {
        let read = if keep(&relative) {
            fs::read(&path).map(|bytes| {
                hash_file(&mut hasher, &relative, &bytes);
                snapshot.files.insert(relative.clone(), bytes);
            })
        } else {
            hash_large_file(&mut hasher, &relative, &path)
        };
        if let Err(e) = read {
            errors.push(io_error(&relative, format!("cannot read the file: {e}")));
        }
    }
    snapshot.fingerprint = hex(&hasher.finalize());
    (snapshot, errors)
}

/// Lists the regular files below `dir`, skipping names starting with `.`.
fn list_files(
    dir: &Path,
    prefix: &str,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
    errors: &mut Vec<ProvisioningError>,
) {
    let shown = if prefix.is_empty() { "." } else { prefix };
    if depth > MAX_DEPTH {
        errors.push(io_error(
            shown,
            format!("folders nest more than {MAX_DEPTH} levels deep (a symbolic link loop?)"),
        ));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(io_error(shown, format!("cannot read the folder: {e}")));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(io_error(shown, format!("cannot read the folder: {e}")));
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let path = entry.path();
        // Follows symbolic links, so that a linked file or folder counts as its target.
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => list_files(&path, &relative, depth + 1, out, errors),
            Ok(meta) if meta.is_file() => out.push((relative, path)),
            Ok(_) => {}
            Err(e) => errors.push(io_error(&relative, format!("cannot read: {e}"))),
        }
    }
}

fn hash_file(hasher: &mut Sha256, relative: &str, bytes: &[u8]) {
    hash_header(hasher, relative, bytes.len() as u64);
    hasher.update(bytes);
}

fn hash_header(hasher: &mut Sha256, relative: &str, len: u64) {
    hasher.update(relative.as_bytes());
    hasher.update([0]);
    hasher.update(len.to_be_bytes());
}

/// Hashes a file without holding it in memory (number inventories can be large).
fn hash_large_file(hasher: &mut Sha256, relative: &str, path: &Path) -> io::Result<()> {
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    hash_header(hasher, relative, len);
    let mut buf = vec![0; 64 * 1024];
    let mut read_total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        read_total += n as u64;
        hasher.update(&buf[..n]);
    }
    if read_total != len {
        return Err(io::Error::other("the file changed while it was read"));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_error(file: &str, message: String) -> ProvisioningError {
    ProvisioningError::new(ErrorKind::Io, file, None, "", "", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, relative: &str, contents: &str) {
        let path = dir.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    fn fingerprint(dir: &Path) -> String {
        let (snapshot, errors) = read_snapshot(dir, |_| false);
        assert!(errors.is_empty(), "{errors:?}");
        snapshot.fingerprint
    }

    #[test]
    fn keeps_only_the_files_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "customers.toml", "a");
        write(dir.path(), "numbers/inventory.csv", "b");
        let (snapshot, errors) = read_snapshot(dir.path(), |p| p == "customers.toml");
        assert!(errors.is_empty());
        assert!(snapshot.readable);
        assert_eq!(
            snapshot.files.keys().collect::<Vec<_>>(),
            ["customers.toml"]
        );
        assert_eq!(snapshot.fingerprint.len(), 64);
    }

    #[test]
    fn fingerprint_covers_paths_and_contents_of_the_whole_tree() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "customers.toml", "a");
        write(dir.path(), "numbers/inventory.csv", "b");
        let first = fingerprint(dir.path());
        assert_eq!(first, fingerprint(dir.path()), "stable");

        write(dir.path(), "numbers/inventory.csv", "c");
        let changed_contents = fingerprint(dir.path());
        assert_ne!(first, changed_contents);

        fs::rename(
            dir.path().join("numbers/inventory.csv"),
            dir.path().join("numbers/other.csv"),
        )
        .unwrap();
        assert_ne!(changed_contents, fingerprint(dir.path()));
    }

    #[test]
    fn fingerprint_ignores_hidden_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "customers.toml", "a");
        let before = fingerprint(dir.path());
        write(dir.path(), ".git/HEAD", "ref: refs/heads/main");
        write(dir.path(), ".customers.toml.swp", "x");
        assert_eq!(before, fingerprint(dir.path()));
    }

    #[test]
    fn content_is_not_confused_with_the_next_path() {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), "a", "bc");
        let b = tempfile::tempdir().unwrap();
        write(b.path(), "a", "b");
        write(b.path(), "c", "");
        assert_ne!(fingerprint(a.path()), fingerprint(b.path()));
    }

    #[test]
    fn a_missing_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let (snapshot, errors) = read_snapshot(&missing, |_| true);
        assert!(!snapshot.readable);
        assert_eq!(errors.len(), 1);
        assert!(errors[0]
            .to_string()
            .starts_with(".: cannot read the provisioning directory"));
    }
}
