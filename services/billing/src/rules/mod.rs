//! The billing domain's rules as plain functions over plain types, tested
//! without a database. So far: the statuses and types stored as text, and
//! their contract values (`statuses`). The status figures (in force,
//! chargeable, license status) still live in the SQL of `db/`.

pub mod statuses;
