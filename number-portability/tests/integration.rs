//! Integration tests of the number-portability crate, one module per feature area.
