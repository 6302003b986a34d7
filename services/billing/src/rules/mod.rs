//! The billing domain's rule book: plain functions over plain types,
//! tested without a database, and public so tools and independent checks
//! can state billing's rules in the service's own words: the statuses
//! and types stored as text and their contract values (`statuses`), the
//! report workflows (`reports`), a partner's standing (`partners`),
//! whether a license may be sold (`sales`), and the figures derived from
//! stored facts (`figures`), whose SQL copies in `db/` are checked
//! against them.

pub mod figures;
pub mod partners;
pub mod reports;
pub mod sales;
pub mod statuses;
