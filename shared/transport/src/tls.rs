//! TLS with rustls and ring (no OpenSSL): a server's certificate and key
//! read from files and reloaded when the files change (cert-manager
//! rotates them in place, so no restart is needed), an optional client CA
//! that makes client certificates mandatory, and the client side: which
//! roots a caller trusts and which certificate it presents.
//!
//! Every error names the setting (flag or variable) and the file it read,
//! so an operator knows what to fix.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

/// How often a server looks at its certificate files for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The one crypto provider of the platform: ring, which builds without
/// CMake or OpenSSL. rustls deprecates it because it lacks post-quantum
/// key exchange; moving to aws-lc-rs is one line here when the build
/// can afford it.
#[expect(
    deprecated,
    reason = "ring is deprecated in rustls for lacking post-quantum key exchange; see above"
)]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A path an operator configured, with the setting that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingPath {
    /// The flag or environment variable, e.g. `ESTATE_TLS_CERT_FILE`.
    pub setting: &'static str,
    pub path: PathBuf,
}

impl SettingPath {
    pub fn new(setting: &'static str, path: impl Into<PathBuf>) -> Self {
        Self {
            setting,
            path: path.into(),
        }
    }

    fn read(&self) -> Result<Vec<u8>, TlsError> {
        std::fs::read(&self.path).map_err(|source| TlsError::Read {
            setting: self.setting,
            path: self.path.clone(),
            source,
        })
    }

    fn invalid(&self, reason: impl Into<String>) -> TlsError {
        TlsError::Invalid {
            setting: self.setting,
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        let metadata = std::fs::metadata(&self.path).ok()?;
        Some((metadata.modified().ok()?, metadata.len()))
    }
}

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting}: cannot read {}: {source}", path.display())]
    Read {
        setting: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{setting}: {}: {reason}", path.display())]
    Invalid {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Config(String),
}

/// Every certificate in a PEM file (at least one).
pub fn load_certificates(file: &SettingPath) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = file.read()?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| file.invalid(format!("not a PEM certificate file ({error})")))?;
    if certificates.is_empty() {
        return Err(file.invalid("holds no PEM certificate"));
    }
    Ok(certificates)
}

fn load_key(file: &SettingPath) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = file.read()?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|error| file.invalid(format!("holds no PEM private key ({error})")))
}

/// A root store holding every certificate of `file`.
pub fn load_roots(file: &SettingPath) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(file)? {
        roots
            .add(certificate)
            .map_err(|error| file.invalid(format!("not a usable CA certificate ({error})")))?;
    }
    Ok(roots)
}

/// The system's trusted roots (for `verify-full` and public endpoints).
pub fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "a system CA certificate could not be read");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("no system CA certificates found; give a CA file to trust a server");
    }
    roots
}

/// Where a server's TLS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: SettingPath,
    pub key: SettingPath,
    /// When set, every client must present a certificate signed by it.
    pub client_ca: Option<SettingPath>,
}

/// The certificate a server presents, replaced when its files change.
#[derive(Debug)]
pub struct ReloadingCertificate {
    files: ServerTlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: [Option<(SystemTime, u64)>; 2],
}

impl ReloadingCertificate {
    /// Loads the files now: a server must not start with an unusable
    /// certificate.
    pub fn load(files: ServerTlsFiles, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let loaded = Self::read(&files, &provider)?;
        Ok(Self {
            files,
            provider,
            current: RwLock::new(loaded),
        })
    }

    fn read(files: &ServerTlsFiles, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
        let stamps = [files.certificate.stamp(), files.key.stamp()];
        let chain = load_certificates(&files.certificate)?;
        let key = load_key(&files.key)?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|error| files.key.invalid(format!("unusable private key ({error})")))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|error| {
            files.key.invalid(format!(
                "does not match the certificate in {} ({error})",
                files.certificate.setting
            ))
        })?;
        Ok(Loaded {
            key: Arc::new(certified),
            stamps,
        })
    }

    /// Reloads when either file changed since the last load; a change that
    /// cannot be loaded (a half-written file) keeps the previous
    /// certificate and is tried again next time.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let stamps = [self.files.certificate.stamp(), self.files.key.stamp()];
        let unchanged = self
            .current
            .read()
            .map(|current| current.stamps == stamps)
            .unwrap_or(false);
        if unchanged {
            return Ok(false);
        }
        let loaded = Self::read(&self.files, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = loaded;
        }
        Ok(true)
    }

    /// Watches the files every `every` while anyone holds the certificate
    /// (from inside a Tokio runtime; outside one, the files are read once).
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(certificate) = weak.upgrade() else {
                    return;
                };
                match certificate.reload_if_changed() {
                    Ok(true) => tracing::info!(
                        file = %certificate.files.certificate.path.display(),
                        "TLS certificate reloaded"
                    ),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%error, "TLS certificate changed but cannot be loaded; keeping the previous one")
                    }
                }
            }
        });
    }
}

/// A client presents the same reloaded certificate, whatever the server
/// asks for (it is the one the platform's CA signed).
impl rustls::client::ResolvesClientCert for ReloadingCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.key.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.key.clone())
    }
}

/// A server configuration presenting `files`' certificate (reloaded every
/// [`RELOAD_EVERY`]) and offering `alpn` (`h2`, and `http/1.1` where
/// gRPC-Web over HTTP/1 is served).
pub fn server_config(
    files: &ServerTlsFiles,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let certificate = Arc::new(ReloadingCertificate::load(files.clone(), provider.clone())?);
    certificate.watch(RELOAD_EVERY);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(load_roots(ca)?), provider)
                    .build()
                    .map_err(|error| {
                        ca.invalid(format!("cannot verify clients with it ({error})"))
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(certificate);
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// What a client trusts and presents when it calls an `https://` URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// The CA bundle to trust; the system's roots when unset.
    pub ca: Option<SettingPath>,
    /// A certificate and key to present to servers that require one.
    pub identity: Option<(SettingPath, SettingPath)>,
}

/// [`ClientTlsFiles`] read and checked once, ready for every connection.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    ca_pem: Option<Vec<u8>>,
    /// The client certificate and key files, reloaded when they change.
    identity: Option<ServerTlsFiles>,
    /// Built on first use and shared by every connection.
    config: Arc<std::sync::OnceLock<Arc<rustls::ClientConfig>>>,
}

impl ClientTls {
    pub fn load(files: &ClientTlsFiles) -> Result<Self, TlsError> {
        let ca_pem = match &files.ca {
            Some(ca) => {
                load_roots(ca)?;
                Some(ca.read()?)
            }
            None => None,
        };
        let identity = match &files.identity {
            Some((certificate, key)) => {
                let identity = ServerTlsFiles {
                    certificate: certificate.clone(),
                    key: key.clone(),
                    client_ca: None,
                };
                // Checked now, so a bad file fails the start naming it.
                ReloadingCertificate::load(identity.clone(), provider())?;
                Some(identity)
            }
            None => None,
        };
        Ok(Self {
            ca_pem,
            identity,
            config: Arc::default(),
        })
    }

    /// The rustls configuration of a client: the CA (or the system's
    /// roots), the identity when there is one, ALPN `h2`.
    pub fn rustls(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        if let Some(config) = self.config.get() {
            return Ok(config.clone());
        }
        let config = self.build()?;
        Ok(self.config.get_or_init(|| config).clone())
    }

    fn build(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let roots = match &self.ca_pem {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for certificate in CertificateDer::pem_slice_iter(pem) {
                    let certificate =
                        certificate.map_err(|error| TlsError::Config(error.to_string()))?;
                    roots
                        .add(certificate)
                        .map_err(|error| TlsError::Config(error.to_string()))?;
                }
                roots
            }
            None => system_roots(),
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| TlsError::Config(error.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some(files) => {
                let certificate = Arc::new(ReloadingCertificate::load(files.clone(), provider())?);
                certificate.watch(RELOAD_EVERY);
                builder.with_client_cert_resolver(certificate)
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}
