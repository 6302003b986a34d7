//! The launcher's library side: the demo data `estate all --demo` loads,
//! shared with the tests that check it.

pub mod demo;
