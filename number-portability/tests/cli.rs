//! The command line (filled in with the binary).
