//! The launcher's library side: the demo data `estate all --demo` loads,
//! shared with the tests that check it. It is the `demo` feature (on by
//! default, for the README's run command and the tests); the production
//! image builds without it, so no demo data ships in it.

#[cfg(feature = "demo")]
pub mod demo;
