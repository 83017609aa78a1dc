//! Integration tests of the provisioning crate, one module per area, built into
//! one test binary.

mod bad_dir;
mod cli;
mod load;
mod sample_set;
mod util;
