//! Port request transitions, as methods of [`crate::inventory::Inventory`].
