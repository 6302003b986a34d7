//! A distributor's programmatic access to billing: a typed client of the
//! billing service through the gateway ([`BillingClient`]), and the
//! `estate-billing` command line built on it ([`cli`]).
//!
//! The client sends the API key with every call, turns resource names into
//! typed ids ([`DistributorId`], [`PartnerId`]) and filters into typed
//! values ([`UsageReportFilter`], [`Month`]), follows page tokens to the
//! end, and keeps every refusal's gRPC code, message and details
//! ([`Error`]). For export, [`rows`] flattens reports into serializable
//! rows whose money is exact decimal text, and [`output`] writes them as a
//! table, JSON, NDJSON or CSV as pages arrive.
//!
//! ```no_run
//! # async fn example() -> Result<(), estate_billing_client::Error> {
//! use estate_billing_client::proto::UsageReportStatus;
//! use estate_billing_client::{BillingClient, DistributorId, UsageReportFilter};
//!
//! let client = BillingClient::connect("http://127.0.0.1:50051", "estate_…").await?;
//! let distributor: DistributorId = "distributors/0192…".parse()?;
//! let filter = UsageReportFilter {
//!     month: Some("2026-10".parse()?),
//!     statuses: vec![UsageReportStatus::UnderReview],
//!     ..Default::default()
//! };
//! for report in client.all_usage_reports(&distributor, &filter).await? {
//!     println!("{} {} {}", report.month, report.product, report.chargeable_units);
//! }
//! # Ok(())
//! # }
//! ```

pub mod cli;
mod client;
pub mod dashboard;
mod error;
pub mod filters;
pub mod money;
pub mod names;
pub mod output;
mod paging;
pub mod rows;

/// The billing contracts' messages and enums, so callers need not depend
/// on `estate-proto` themselves.
pub use estate_proto::billing as proto;

pub use client::{
    AuthorizedChannel, BearerToken, BillingClient, MAX_SEARCH_RESULTS, PartnerNames, ProductDrops,
};
pub use error::{Error, FieldViolation, PreconditionViolation, RpcError, code_name};
pub use filters::{BillingReportFilter, Month, PartnerFilter, UsageReportFilter};
pub use names::{DistributorId, PartnerId};
pub use paging::Page;
