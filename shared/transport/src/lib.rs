//! How Estate's processes reach each other and are reached: TLS with
//! rustls (certificates reloaded from files), channels balanced over every
//! replica of a service with DNS re-resolution, and retries of calls that
//! provably never reached a server.

pub mod balance;
mod http2;
pub mod methods;
pub mod tls;

pub use balance::{Balanced, ChannelOptions, TargetError, is_unsent};
pub use tls::{ClientTls, ClientTlsFiles, ServerTlsFiles, SettingPath, TlsError};
