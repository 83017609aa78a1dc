//! Integration tests of the rating crate.
