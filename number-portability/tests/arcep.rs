//! ARCEP imports (filled in with the arcep module).
