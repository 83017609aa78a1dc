//! Helpers shared by the integration tests.

use std::fs;
use std::path::{Path, PathBuf};

use provisioning::ProvisioningErrors;

/// The demo's sample provisioning directory.
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/provisioning")
}

/// The fixture with one deliberate mistake per check.
pub fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

pub use testkit::copy_dir;

/// A temporary directory holding the given files (relative path, contents).
pub fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (relative, contents) in files {
        let path = dir.path().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    dir
}

/// The errors as displayed, one per line, for failure messages.
pub fn listing(errors: &ProvisioningErrors) -> String {
    format!("--- errors ---\n{errors}\n--------------")
}
