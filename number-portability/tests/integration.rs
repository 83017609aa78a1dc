//! Integration tests of the number-portability crate, one module per feature area.

mod arcep;
mod classify;
mod cli;
mod inventory;
mod inventory_cli;
mod porting;
mod properties;
