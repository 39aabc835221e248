//! TLS: the one policy both transports follow, written once.
//!
//! * **Crypto provider**: rustls with *ring*, handed to the HTTP library
//!   explicitly (feature `tls-ring`; `tls-aws-lc-rs` selects aws-lc-rs
//!   instead). The SDK never installs a process-wide default provider, so
//!   a program that also links another rustls provider keeps working.
//! * **Roots**: Mozilla's root certificates bundled in the binary (feature
//!   `webpki-roots`; works in containers without `ca-certificates`), or the
//!   operating system's store (feature `native-roots`), plus any root added
//!   with `add_root_certificate_pem`; `tls_built_in_roots(false)` keeps
//!   only the added ones.
//! * **Client identity** for mutual TLS: a PEM certificate chain and its
//!   PEM private key (PKCS#8, PKCS#1 or SEC1).
//!
//! Without the `tls` feature this module only holds the error types
//! ([`TlsFailure`], [`TlsError`]) a transport reports.

use core::fmt;
use std::error::Error as StdError;
use std::sync::Arc;

/// Why a TLS handshake failed, in terms a user can act on. An
/// [`Error::Transport`](crate::Error::Transport) whose kind is
/// [`TransportFailure::Tls`](crate::TransportFailure::Tls) carries it in
/// its source ([`TlsError`]); [`Error::tls_failure`](crate::Error::tls_failure)
/// reads it back.
///
/// ```
/// use agentwrit_core::TlsFailure;
/// assert!(TlsFailure::NotTls.to_string().contains("plain HTTP"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The broker's certificate does not chain to a trusted root (a
    /// private CA that was not added, or a self-signed certificate).
    UnknownIssuer,
    /// The broker's certificate is not valid for the host in the URL.
    NotValidForName,
    /// The broker's certificate has expired (or is not valid yet).
    Expired,
    /// The broker requires a client certificate (mutual TLS) and none was
    /// presented.
    CertificateRequired,
    /// The broker rejected the client certificate presented (not issued by
    /// a CA it trusts, expired, or otherwise unacceptable).
    BadCertificate,
    /// The peer does not speak TLS: an `https://` URL to a plain-HTTP port.
    NotTls,
    /// Any other TLS failure (see the source for details).
    Other,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::UnknownIssuer => {
                "the broker's certificate is not issued by a trusted certificate authority \
                 (add the CA with add_root_certificate_pem or AGENTWRIT_CA_FILE)"
            }
            TlsFailure::NotValidForName => {
                "the broker's certificate is not valid for the host name in the URL"
            }
            TlsFailure::Expired => "the broker's certificate has expired or is not valid yet",
            TlsFailure::CertificateRequired => {
                "the broker requires a client certificate (mutual TLS) and none was presented \
                 (set identity_pem or AGENTWRIT_CLIENT_CERT and AGENTWRIT_CLIENT_KEY)"
            }
            TlsFailure::BadCertificate => "the broker rejected the client certificate",
            TlsFailure::NotTls => {
                "the peer does not speak TLS: the port may be plain HTTP (try an http:// URL)"
            }
            TlsFailure::Other => "TLS protocol error",
        })
    }
}

/// A failed TLS handshake: the [`TlsFailure`] and, as its `source()`, the
/// TLS library's own error (a `rustls::Error`). What a transport keeps as
/// the source of an `Error::Transport` of kind `Tls`.
///
/// ```
/// use agentwrit_core::{TlsError, TlsFailure};
/// let err = TlsError::new(TlsFailure::Expired, "certificate expired");
/// assert_eq!(err.failure(), TlsFailure::Expired);
/// assert!(err.to_string().starts_with("the broker's certificate has expired"));
/// // The library's message is the source, not repeated in `Display`.
/// assert!(!err.to_string().contains("certificate expired"));
/// assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "certificate expired");
/// ```
#[derive(Clone, Debug)]
pub struct TlsError {
    failure: TlsFailure,
    source: Arc<dyn StdError + Send + Sync + 'static>,
}

impl TlsError {
    /// A TLS error of kind `failure` caused by `source`.
    pub fn new(
        failure: TlsFailure,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        TlsError {
            failure,
            source: Arc::from(source.into()),
        }
    }

    /// Why the handshake failed.
    #[must_use]
    pub fn failure(&self) -> TlsFailure {
        self.failure
    }
}

// The TLS library's message is the `source()`, not repeated here: a walk
// of the source chain shows each message once.
impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.failure, f)
    }
}

impl StdError for TlsError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(feature = "tls")]
pub use with_rustls::*;

#[cfg(all(
    feature = "tls",
    not(any(feature = "tls-ring", feature = "tls-aws-lc-rs"))
))]
compile_error!(
    "agentwrit-core's `tls` feature needs a crypto provider: enable `tls-ring` (the default of \
     agentwrit-blocking and agentwrit-async, feature `ring` there) or `tls-aws-lc-rs` (`aws-lc-rs`)"
);

#[cfg(feature = "tls")]
mod with_rustls {
    use core::fmt;
    use std::error::Error as StdError;
    use std::sync::{Arc, OnceLock};

    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::{AlertDescription, CertificateError, RootCertStore};

    use super::{TlsError, TlsFailure};
    use crate::builder::ClientSettings;
    use crate::error::Error;

    /// The crypto provider this build uses: ring with the `tls-ring`
    /// feature, otherwise aws-lc-rs. A fresh value, never the process
    /// default (which is neither read nor installed).
    ///
    /// ```
    /// let provider = agentwrit_core::tls::crypto_provider();
    /// assert!(!provider.cipher_suites.is_empty());
    /// ```
    #[must_use]
    pub fn crypto_provider() -> Arc<CryptoProvider> {
        #[cfg(feature = "tls-ring")]
        let provider = rustls::crypto::ring::default_provider();
        #[cfg(all(not(feature = "tls-ring"), feature = "tls-aws-lc-rs"))]
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        Arc::new(provider)
    }

    /// The built-in roots of this build: Mozilla's bundled roots
    /// (`webpki-roots`), the OS store (`native-roots`, read once per
    /// process), both, or none.
    fn built_in_roots() -> &'static [CertificateDer<'static>] {
        static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
        ROOTS.get_or_init(|| {
            #[allow(unused_mut)]
            let mut roots: Vec<CertificateDer<'static>> = Vec::new();
            #[cfg(feature = "webpki-roots")]
            roots.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
            #[cfg(feature = "native-roots")]
            roots.extend(rustls_native_certs::load_native_certs().certs);
            roots
        })
    }

    /// Parses one or more PEM certificates.
    ///
    /// # Errors
    ///
    /// A reason when `pem` holds no `CERTIFICATE` block or a malformed one.
    pub(crate) fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("is not valid PEM: {e}"))?;
        if certs.is_empty() {
            return Err("holds no PEM CERTIFICATE block".to_owned());
        }
        Ok(certs)
    }

    /// Parses a PEM private key. The reason never quotes the input.
    pub(crate) fn parse_private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
        PrivateKeyDer::from_pem_slice(pem)
            .map_err(|_| "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned())
    }

    /// What a transport plugs into its HTTP library: the rustls client
    /// configuration, and the provider and roots it was built from.
    ///
    /// Plumbing between core and the transport crates. `Debug` shows no
    /// key material.
    ///
    /// ```
    /// use agentwrit_core::ClientSettings;
    /// let tls = ClientSettings::new("https://broker.example").tls_setup()?;
    /// assert!(!tls.has_client_identity());
    /// assert!(tls.client_config().alpn_protocols.is_empty()); // HTTP/1.1
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    #[derive(Clone)]
    pub struct TlsSetup {
        provider: Arc<CryptoProvider>,
        roots: Arc<Vec<CertificateDer<'static>>>,
        has_identity: bool,
        config: Arc<rustls::ClientConfig>,
    }

    impl fmt::Debug for TlsSetup {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsSetup")
                .field("roots", &self.roots.len())
                .field("client_identity", &self.has_identity)
                .finish_non_exhaustive()
        }
    }

    impl TlsSetup {
        /// The rustls client configuration (on the explicit provider).
        #[must_use]
        pub fn client_config(&self) -> &Arc<rustls::ClientConfig> {
            &self.config
        }

        /// The crypto provider.
        #[must_use]
        pub fn provider(&self) -> &Arc<CryptoProvider> {
            &self.provider
        }

        /// Every trusted root certificate (built-in and added), as DER.
        #[must_use]
        pub fn root_certificates(&self) -> &Arc<Vec<CertificateDer<'static>>> {
            &self.roots
        }

        /// True when the configuration presents a client certificate
        /// (mutual TLS). The key lives only inside the rustls configuration.
        #[must_use]
        pub fn has_client_identity(&self) -> bool {
            self.has_identity
        }
    }

    impl ClientSettings {
        /// The TLS set-up these settings ask for: trusted roots, client
        /// identity and crypto provider, checked and built into one rustls
        /// client configuration.
        ///
        /// # Errors
        ///
        /// [`Error::InvalidInput`] for a root or identity that is not valid
        /// PEM, a key that does not match its certificate, or an `https://`
        /// broker with no root to verify it against.
        ///
        /// ```
        /// use agentwrit_core::ClientSettings;
        /// let err = ClientSettings::new("https://broker.example")
        ///     .add_root_certificate_pem(b"not a certificate")
        ///     .tls_setup()
        ///     .unwrap_err();
        /// assert!(err.to_string().contains("root_certificate_pem"));
        /// ```
        pub fn tls_setup(&self) -> Result<TlsSetup, Error> {
            let options = &self.tls;
            let provider = crypto_provider();
            let mut roots: Vec<CertificateDer<'static>> = Vec::new();
            if options.built_in_roots {
                roots.extend(built_in_roots().iter().cloned());
            }
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(roots.iter().cloned());
            for (i, pem) in options.extra_roots_pem.iter().enumerate() {
                let field = format!("root_certificate_pem[{i}]");
                let certs = parse_certificates(pem).map_err(|r| Error::invalid_input(&field, r))?;
                for cert in certs {
                    store.add(cert.clone()).map_err(|e| {
                        Error::invalid_input(&field, format!("is not a usable CA certificate: {e}"))
                    })?;
                    roots.push(cert);
                }
            }
            if store.is_empty() && self.broker_url().trim_start().starts_with("https:") {
                return Err(Error::invalid_input(
                    "tls_built_in_roots",
                    "no root certificate to verify the broker with: the built-in roots are off \
                     (or the build has neither the `webpki-roots` nor the `native-roots` feature) \
                     and none was added with add_root_certificate_pem",
                ));
            }
            let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::invalid_input("tls", e.to_string()))?
                .with_root_certificates(store);
            let config = match &options.identity {
                None => builder.with_no_client_auth(),
                Some((chain_pem, key_pem)) => {
                    let chain = parse_certificates(chain_pem)
                        .map_err(|r| Error::invalid_input("identity_pem.cert_chain", r))?;
                    let key = parse_private_key(key_pem)
                        .map_err(|r| Error::invalid_input("identity_pem.key", r))?;
                    builder.with_client_auth_cert(chain, key).map_err(|e| {
                        Error::invalid_input(
                            "identity_pem",
                            format!("the key does not fit the certificate: {e}"),
                        )
                    })?
                }
            };
            Ok(TlsSetup {
                provider,
                roots: Arc::new(roots),
                has_identity: options.identity.is_some(),
                config: Arc::new(config),
            })
        }
    }

    /// Finds the TLS failure behind a transport error: walks its source
    /// chain (looking inside `std::io::Error`s too) for a `rustls::Error`
    /// and names its cause. `None` when the failure was not TLS.
    ///
    /// ```
    /// use agentwrit_core::{TlsFailure, tls::tls_error_in};
    /// let rustls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
    /// let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls);
    /// assert_eq!(tls_error_in(&io).unwrap().failure(), TlsFailure::UnknownIssuer);
    /// assert!(tls_error_in(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)).is_none());
    /// ```
    #[must_use]
    pub fn tls_error_in(error: &(dyn StdError + 'static)) -> Option<TlsError> {
        let mut current = Some(error);
        // A chain is short; the bound only guards against a cyclic one.
        for _ in 0..32 {
            let error = current?;
            if let Some(rustls) = error.downcast_ref::<rustls::Error>() {
                return Some(TlsError::new(failure_of(rustls), rustls.clone()));
            }
            current = match error.downcast_ref::<std::io::Error>() {
                // `io::Error::source` skips the wrapped error itself.
                Some(io) => match io.get_ref() {
                    Some(inner) => Some(inner as &(dyn StdError + 'static)),
                    None => None,
                },
                None => error.source(),
            };
        }
        None
    }

    fn failure_of(error: &rustls::Error) -> TlsFailure {
        use rustls::Error as E;
        match error {
            E::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailure::NotValidForName,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
                _ => TlsFailure::Other,
            },
            E::AlertReceived(AlertDescription::CertificateRequired) => {
                TlsFailure::CertificateRequired
            }
            E::AlertReceived(
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateExpired
                | AlertDescription::CertificateRevoked
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::AccessDenied,
            ) => TlsFailure::BadCertificate,
            E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => TlsFailure::NotTls,
            _ => TlsFailure::Other,
        }
    }
}
