//! Phone numbers: what a number is and who holds it.
//!
//! This crate owns E.164 parsing and normalisation, the French numbering plan and
//! international prefixes (classification), ARCEP numbering data, the number
//! inventory (which customer, trunk and site holds a number) and porting. It knows
//! nothing about SIP or billing; every other component asks it about numbers.
//!
//! Nothing is implemented yet: the work is tracked by the number-portability issue.
