//! HTTPS and mutual TLS, as the real broker serves them
//! (`AA_TLS_MODE=none|tls|mtls`).
//!
//! The real broker (Go `crypto/tls`) accepts TLS 1.2 and 1.3 with AEAD
//! cipher suites only; under `mtls` it requires a client certificate that
//! chains to `AA_TLS_CLIENT_CA` and refuses any other client during the
//! handshake, before HTTP. Over TLS every answer also carries
//! `Strict-Transport-Security: max-age=63072000; includeSubDomains`. A
//! plain-HTTP request sent to its TLS port gets Go's
//! `400 Bad Request` "Client sent an HTTP request to an HTTPS server.".
//! The development broker does all of that with rustls.
//!
//! rustls is always configured with an explicit crypto provider (`ring`),
//! never the process-wide default, so linking this crate next to another
//! rustls provider (aws-lc-rs, as reqwest's default) cannot make anything
//! panic.
//!
//! One difference: the real broker offers HTTP/2 through ALPN; this one
//! offers `http/1.1` only.
//!
//! ```
//! # #[cfg(feature = "test-pki")] {
//! use agentwrit_devbroker::DevBroker;
//! use agentwrit_devbroker::tls::TestPki;
//!
//! let pki = TestPki::generate()?;
//! let broker = DevBroker::builder().tls(pki.mtls_server_config()?).start()?;
//! assert!(broker.url().starts_with("https://127.0.0.1:"));
//! assert_eq!(broker.tls_handshakes(), 0);
//! # }
//! # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::error::DevBrokerError;

#[cfg(feature = "test-pki")]
mod pki;
#[cfg(feature = "test-pki")]
pub use pki::{TestIdentity, TestPki, TestPkiDir};

/// The value of the HSTS header the real broker sends over TLS.
pub(crate) const HSTS: &str = "max-age=63072000; includeSubDomains";

/// How long a client may take to complete its handshake (the real
/// broker's header-read timeout is 5 s, its read timeout 15 s).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What Go's HTTP server writes to a plain-HTTP request on a TLS port.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The broker's transport mode: `AA_TLS_MODE` on the real broker.
///
/// ```
/// use agentwrit_devbroker::TlsMode;
///
/// assert_eq!("mtls".parse::<TlsMode>(), Ok(TlsMode::Mtls));
/// assert_eq!(TlsMode::Tls.to_string(), "tls");
/// assert!("https".parse::<TlsMode>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TlsMode {
    /// Plain HTTP (the default).
    #[default]
    None,
    /// HTTPS: the broker presents a certificate.
    Tls,
    /// Mutual TLS: the broker also requires a client certificate that
    /// chains to its client CA.
    Mtls,
}

impl TlsMode {
    /// The mode's name as `AA_TLS_MODE` spells it.
    ///
    /// ```
    /// assert_eq!(agentwrit_devbroker::TlsMode::None.as_str(), "none");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Tls => "tls",
            TlsMode::Mtls => "mtls",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TLS mode name that is not `none`, `tls` or `mtls`.
///
/// ```
/// let err = "ssl".parse::<agentwrit_devbroker::TlsMode>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown TLS mode \"ssl\" (expected none, tls or mtls)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS mode {0:?} (expected none, tls or mtls)")]
pub struct UnknownTlsMode(pub String);

impl FromStr for TlsMode {
    type Err = UnknownTlsMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(TlsMode::None),
            "tls" => Ok(TlsMode::Tls),
            "mtls" => Ok(TlsMode::Mtls),
            other => Err(UnknownTlsMode(other.to_owned())),
        }
    }
}

/// The server side of TLS: the broker's certificate chain and private key,
/// and for mutual TLS the CA that client certificates must chain to.
/// Hand it to [`DevBrokerBuilder::tls`](crate::DevBrokerBuilder::tls).
///
/// The private key never appears in `Debug`.
///
/// ```
/// # #[cfg(feature = "test-pki")] {
/// use agentwrit_devbroker::{TlsMode, TlsServerConfig};
/// use agentwrit_devbroker::tls::TestPki;
///
/// let pki = TestPki::generate()?;
/// let tls = TlsServerConfig::from_pem(pki.server().cert_pem(), pki.server().key_pem())?;
/// assert_eq!(tls.mode(), TlsMode::Tls);
/// let mtls = tls.require_client_cert(pki.ca_pem())?;
/// assert_eq!(mtls.mode(), TlsMode::Mtls);
/// assert!(!format!("{mtls:?}").contains("PRIVATE KEY"));
/// # }
/// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
/// ```
#[derive(Clone)]
pub struct TlsServerConfig {
    cert_chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("mode", &self.mode())
            .field("cert_chain_len", &self.cert_chain.len())
            .field("key", &"<redacted>")
            .field(
                "client_ca_certs",
                &self.client_ca.as_ref().map(std::vec::Vec::len),
            )
            .finish()
    }
}

impl TlsServerConfig {
    /// One-way TLS from PEM text: the certificate chain (leaf first) and
    /// its private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Tls`] when the PEM holds no certificate or no
    /// key, or the key does not match the certificate.
    pub fn from_pem(cert_chain_pem: &str, key_pem: &str) -> Result<Self, DevBrokerError> {
        let cert_chain = certs_from_pem(cert_chain_pem, "the server certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
            DevBrokerError::Tls(format!("no usable private key in the key PEM ({e})"))
        })?;
        let config = TlsServerConfig {
            cert_chain,
            key: Arc::new(key),
            client_ca: None,
        };
        // Check now that the pair works, rather than at start().
        config.rustls_config()?;
        Ok(config)
    }

    /// One-way TLS from the PEM files `AA_TLS_CERT` and `AA_TLS_KEY` name.
    ///
    /// ```
    /// # #[cfg(feature = "test-pki")] {
    /// use agentwrit_devbroker::TlsServerConfig;
    /// use agentwrit_devbroker::tls::TestPki;
    ///
    /// let files = TestPki::generate()?.write_to_temp_dir()?;
    /// let tls = TlsServerConfig::from_pem_files(files.server_cert(), files.server_key())?;
    /// assert_eq!(tls.mode(), agentwrit_devbroker::TlsMode::Tls);
    /// # }
    /// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Io`] when a file cannot be read, otherwise as
    /// [`TlsServerConfig::from_pem`].
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, DevBrokerError> {
        let cert = read_pem(cert_chain.as_ref())?;
        let key = zeroize::Zeroizing::new(read_pem(key.as_ref())?);
        Self::from_pem(&cert, &key)
    }

    /// Turns this into mutual TLS: every client must present a certificate
    /// chaining to one of the CA certificates in `client_ca_pem`, or the
    /// handshake fails.
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Tls`] when the PEM holds no usable CA certificate.
    pub fn require_client_cert(mut self, client_ca_pem: &str) -> Result<Self, DevBrokerError> {
        self.client_ca = Some(certs_from_pem(client_ca_pem, "the client CA")?);
        self.rustls_config()?;
        Ok(self)
    }

    /// As [`TlsServerConfig::require_client_cert`], with the PEM file
    /// `AA_TLS_CLIENT_CA` names.
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Io`] when the file cannot be read, otherwise as
    /// [`TlsServerConfig::require_client_cert`].
    pub fn require_client_cert_from_file(
        self,
        client_ca: impl AsRef<Path>,
    ) -> Result<Self, DevBrokerError> {
        let pem = read_pem(client_ca.as_ref())?;
        self.require_client_cert(&pem)
    }

    /// [`TlsMode::Tls`] or [`TlsMode::Mtls`].
    #[must_use]
    pub fn mode(&self) -> TlsMode {
        if self.client_ca.is_some() {
            TlsMode::Mtls
        } else {
            TlsMode::Tls
        }
    }

    /// The rustls configuration, on the `ring` provider named explicitly.
    pub(crate) fn rustls_config(&self) -> Result<Arc<rustls::ServerConfig>, DevBrokerError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_err = |what: &str, e: rustls::Error| DevBrokerError::Tls(format!("{what}: {e}"));
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| tls_err("protocol versions", e))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(cas) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in cas {
                    roots
                        .add(ca.clone())
                        .map_err(|e| tls_err("the client CA certificate", e))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| {
                            DevBrokerError::Tls(format!("the client certificate verifier: {e}"))
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|e| tls_err("the server certificate and key", e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn certs_from_pem(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, DevBrokerError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DevBrokerError::Tls(format!("{what}: invalid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(DevBrokerError::Tls(format!(
            "{what}: no CERTIFICATE block in the PEM"
        )));
    }
    Ok(certs)
}

fn read_pem(path: &Path) -> Result<String, DevBrokerError> {
    std::fs::read_to_string(path).map_err(|source| DevBrokerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Handshake counters shared between the acceptor and the handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) completed: AtomicU64,
}

/// An axum listener that yields connections whose TLS handshake has
/// completed. Handshakes run in their own tasks, so a slow or hostile
/// client cannot hold up the others.
pub(crate) struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener` (inside the broker's runtime).
    pub(crate) fn spawn(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        counters: Arc<Counters>,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            tx,
            counters,
        ));
        Ok(TlsListener {
            incoming: rx,
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    counters: Arc<Counters>,
) {
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((tcp, peer)) => {
                tokio::spawn(handshake(
                    tcp,
                    peer,
                    acceptor.clone(),
                    tx.clone(),
                    Arc::clone(&counters),
                ));
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Out of file descriptors and the like: back off instead
                // of spinning, as axum's own accept loop does.
                tracing::error!(error = %e, "devbroker: accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn handshake(
    mut tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    counters: Arc<Counters>,
) {
    let _ = tcp.set_nodelay(true);
    let mut head = [0_u8; 5];
    let n = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut head)).await {
        Ok(Ok(n)) => n,
        Ok(Err(_)) | Err(_) => return,
    };
    if looks_like_http(&head[..n]) {
        tracing::debug!(%peer, "devbroker: plain HTTP on the TLS port");
        let _ = tcp.write_all(PLAIN_HTTP_ANSWER).await;
        let _ = tcp.shutdown().await;
        // Read what the client sent until it closes (bounded), so that
        // closing with unread data does not reset the connection before
        // the client has read the answer.
        let mut sink = [0_u8; 4096];
        let mut left = 1_usize << 20;
        while left > 0 {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
        return;
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            counters.completed.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send((stream, peer)).await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "devbroker: TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "devbroker: TLS handshake timed out"),
    }
}

/// Whether the first bytes of a connection are an HTTP request line (the
/// methods Go's server recognises) rather than a TLS record.
fn looks_like_http(head: &[u8]) -> bool {
    const STARTS: [&[u8; 5]; 5] = [b"GET /", b"HEAD ", b"POST ", b"PUT /", b"OPTIO"];
    STARTS.iter().any(|s| head == s.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_request_lines_are_recognised() {
        assert!(looks_like_http(b"GET /"));
        assert!(looks_like_http(b"POST "));
        assert!(!looks_like_http(b"GET"));
        assert!(!looks_like_http(&[0x16, 3, 1, 0, 200]));
        assert!(!looks_like_http(b"DELET"));
    }
}
