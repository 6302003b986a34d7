//! How a service reaches PostgreSQL: the connection string as libpq reads
//! it, TLS included. `sslmode` takes libpq's values — `disable`, `prefer`
//! (the default: TLS when the server offers it), `require` (TLS, the
//! certificate not checked unless `sslrootcert` is given), `verify-ca`
//! (the chain checked against `sslrootcert`, or the system's roots) and
//! `verify-full` (the chain and the host name) — so a managed database
//! that forces TLS works, with rustls.
//!
//! Errors name `DATABASE_URL` and show the string with its password
//! masked.

use std::sync::Arc;

use estate_transport::SettingPath;
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The setting every error names.
pub const SETTING: &str = "DATABASE_URL";

/// A connection string that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{SETTING} ({masked}): {reason}")]
pub struct DatabaseUrlError {
    masked: String,
    reason: String,
}

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt only (libpq's `prefer`/`require` without a root file).
    Nothing,
    /// The chain, not the name (`verify-ca`, or `require` with a root file).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A parsed connection string and the TLS to use with it.
pub struct Database {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    pub verify: Verify,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("ssl_mode", &self.config.get_ssl_mode())
            .field("verify", &self.verify)
            .finish()
    }
}

/// `url` with any password replaced by `***`.
pub fn mask(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let tail = mask_query_password(tail);
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        return format!("{scheme}://{authority}{tail}");
    }
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `tail` (a URL's path and query) with a `password=` parameter masked.
fn mask_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***".to_string(),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// Takes `sslmode` and `sslrootcert` out of `url` (tokio-postgres knows
/// neither `verify-*` nor root files), returning what is left and them.
fn split_tls_options(url: &str) -> (String, Option<String>, Option<String>) {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: &str| match key {
        "sslmode" => {
            mode = Some(value.to_string());
            true
        }
        "sslrootcert" => {
            root = Some(value.to_string());
            true
        }
        _ => false,
    };
    if url.contains("://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, value)
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, mode, root)
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, value.trim_matches('\''))
            })
            .collect();
        (kept.join(" "), mode, root)
    }
}

impl Database {
    /// Reads `url` as libpq would (see the module docs).
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        let error = |reason: String| DatabaseUrlError {
            masked: mask(url),
            reason,
        };
        let (rest, mode, root) = split_tls_options(url);
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|parse: tokio_postgres::Error| error(parse.to_string()))?;
        let root = root.map(|path| SettingPath::new("DATABASE_URL sslrootcert", path));
        let (ssl_mode, verify) = match mode.as_deref().unwrap_or("prefer") {
            "disable" => (SslMode::Disable, Verify::Nothing),
            "allow" | "prefer" => (
                SslMode::Prefer,
                if root.is_some() {
                    Verify::Chain
                } else {
                    Verify::Nothing
                },
            ),
            "require" => (
                SslMode::Require,
                if root.is_some() {
                    Verify::Chain
                } else {
                    Verify::Nothing
                },
            ),
            "verify-ca" => (SslMode::Require, Verify::Chain),
            "verify-full" => (SslMode::Require, Verify::Full),
            other => {
                return Err(error(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        };
        config.ssl_mode(ssl_mode);
        let roots = match (&root, verify) {
            (Some(file), _) => Some(
                estate_transport::tls::load_roots(file).map_err(|tls| error(tls.to_string()))?,
            ),
            (None, Verify::Nothing) => None,
            (None, _) => Some(estate_transport::tls::system_roots()),
        };
        let provider = estate_transport::tls::provider();
        let verifier: Arc<dyn ServerCertVerifier> = match roots {
            None => Arc::new(AcceptAny(provider.clone())),
            Some(roots) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|build| {
                            error(format!(
                                "cannot verify the server with these roots: {build}"
                            ))
                        })?;
                if verify == Verify::Full {
                    webpki
                } else {
                    Arc::new(IgnoreName(webpki))
                }
            }
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|tls| error(tls.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(tls),
            verify,
        })
    }
}

/// Encryption without authentication: libpq's `require` without roots.
/// Signatures are still checked, so the session key is the server's.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The chain checked, the name not: libpq's `verify-ca`.
#[derive(Debug)]
struct IgnoreName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let cases = [
            (
                "postgres://u:secret@db:5432/x?sslmode=require",
                "postgres://u:***@db:5432/x?sslmode=require",
            ),
            ("postgres://u@db/x", "postgres://u@db/x"),
            (
                "postgres://u@db/x?password=secret&sslmode=require",
                "postgres://u@db/x?password=***&sslmode=require",
            ),
            (
                "host=db password=secret user=u",
                "host=db password=*** user=u",
            ),
        ];
        for (url, masked) in cases {
            assert_eq!(mask(url), masked);
        }
    }

    #[test]
    fn tls_options_are_read_as_libpq_reads_them() {
        let cases = [
            ("postgres://u@db/x", SslMode::Prefer, Verify::Nothing),
            (
                "postgres://u@db/x?sslmode=disable",
                SslMode::Disable,
                Verify::Nothing,
            ),
            (
                "postgres://u@db/x?sslmode=require&application_name=a",
                SslMode::Require,
                Verify::Nothing,
            ),
            (
                "postgres://u@db/x?sslmode=verify-ca",
                SslMode::Require,
                Verify::Chain,
            ),
            (
                "postgres://u@db/x?sslmode=verify-full",
                SslMode::Require,
                Verify::Full,
            ),
            (
                "host=db user=u sslmode=verify-full",
                SslMode::Require,
                Verify::Full,
            ),
        ];
        for (url, mode, verify) in cases {
            let database = Database::parse(url).unwrap();
            assert_eq!(database.config.get_ssl_mode(), mode, "{url}");
            assert_eq!(database.verify, verify, "{url}");
        }
    }

    #[test]
    fn errors_name_the_variable_and_hide_the_password() {
        let error = Database::parse("postgres://u:hunter2@db/x?sslmode=sometimes")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("DATABASE_URL (postgres://u:***@db/x?sslmode=sometimes)"),
            "{error}"
        );
        assert!(!error.contains("hunter2"));
        let error = Database::parse(
            "postgres://u:hunter2@db/x?sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("/nonexistent/ca.pem") && !error.contains("hunter2"),
            "{error}"
        );
        let error = Database::parse("postgres://u:hunter2@db:notaport/x")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("DATABASE_URL (postgres://u:***@db:notaport/x): "),
            "{error}"
        );
    }
}
