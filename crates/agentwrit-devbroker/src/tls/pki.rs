//! A throwaway public-key infrastructure for tests and examples (feature
//! `test-pki`, on by default).

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use zeroize::Zeroizing;

use super::TlsServerConfig;
use crate::crypto::random_hex;
use crate::error::DevBrokerError;

/// The names a [`TestPki`]'s server certificate is valid for.
const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The only name the wrong-host server certificate is valid for.
const WRONG_HOST: &str = "not-the-broker.example";

/// A certificate and its private key, PEM-encoded. The key never appears
/// in `Debug`.
///
/// ```
/// let pki = agentwrit_devbroker::tls::TestPki::generate()?;
/// let client = pki.client();
/// assert!(client.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(client.key_pem().contains("PRIVATE KEY"));
/// assert!(!format!("{client:?}").contains("PRIVATE KEY"));
/// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
/// ```
#[derive(Clone)]
pub struct TestIdentity {
    cert_pem: String,
    key_pem: Zeroizing<String>,
}

impl fmt::Debug for TestIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIdentity")
            .field("cert_pem", &format_args!("<{} bytes>", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl TestIdentity {
    /// The certificate (one `CERTIFICATE` block; the CA is not included).
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key (`PRIVATE KEY`, PKCS#8, ECDSA P-256).
    #[must_use]
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Certificate then key, in one PEM text (the form some clients take
    /// an identity in, e.g. `reqwest::Identity::from_pem`).
    ///
    /// ```
    /// let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// let both = pki.client().cert_and_key_pem();
    /// assert!(both.contains("CERTIFICATE") && both.contains("PRIVATE KEY"));
    /// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
    /// ```
    #[must_use]
    pub fn cert_and_key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}{}", self.cert_pem, self.key_pem.as_str()))
    }
}

/// A throwaway PKI made fresh by every [`TestPki::generate`]: a CA, a
/// server certificate for `localhost`, `127.0.0.1` and `::1`, and a client
/// certificate, all signed by that CA; plus, for failure tests, a second
/// (untrusted) CA with a client certificate of its own, an expired server
/// certificate and a server certificate for another host name (both signed
/// by the trusted CA). Keys are ECDSA P-256, as the real broker's
/// `gen_test_certs.sh` makes them.
///
/// For tests and examples only: nothing here is protected beyond keeping
/// private keys out of `Debug`.
///
/// ```
/// use agentwrit_devbroker::DevBroker;
/// use agentwrit_devbroker::tls::TestPki;
///
/// let pki = TestPki::generate()?;
/// let broker = DevBroker::builder().tls(pki.server_config()?).start()?;
/// assert!(broker.url().starts_with("https://"));
/// // A client trusts `pki.ca_pem()`; under mTLS it presents `pki.client()`.
/// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
/// ```
#[derive(Clone)]
pub struct TestPki {
    ca_pem: String,
    server: TestIdentity,
    client: TestIdentity,
    untrusted_ca_pem: String,
    untrusted_client: TestIdentity,
    expired_server: TestIdentity,
    wrong_host_server: TestIdentity,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("server", &self.server)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

fn pki_err(e: rcgen::Error) -> DevBrokerError {
    DevBrokerError::Tls(format!("test PKI generation failed: {e}"))
}

fn new_ca(name: &str) -> Result<CertifiedIssuer<'static, KeyPair>, DevBrokerError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_err)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(pki_err)?;
    CertifiedIssuer::self_signed(params, key).map_err(pki_err)
}

#[derive(Clone, Copy)]
enum Leaf {
    Server,
    Client,
}

fn new_leaf(
    issuer: &Issuer<'_, KeyPair>,
    kind: Leaf,
    names: &[&str],
    expired: bool,
) -> Result<TestIdentity, DevBrokerError> {
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).map_err(pki_err)?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("agentwrit test", String::as_str),
    );
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match kind {
        Leaf::Server => ExtendedKeyUsagePurpose::ServerAuth,
        Leaf::Client => ExtendedKeyUsagePurpose::ClientAuth,
    }];
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().map_err(pki_err)?;
    let cert = params.signed_by(&key, issuer).map_err(pki_err)?;
    Ok(TestIdentity {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

impl TestPki {
    /// Generates a fresh PKI (a few milliseconds).
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Tls`] if key generation or signing fails.
    pub fn generate() -> Result<Self, DevBrokerError> {
        let ca = new_ca("agentwrit-devbroker test CA")?;
        let other = new_ca("agentwrit-devbroker untrusted test CA")?;
        Ok(TestPki {
            ca_pem: ca.pem(),
            server: new_leaf(&ca, Leaf::Server, &SERVER_NAMES, false)?,
            client: new_leaf(&ca, Leaf::Client, &["agentwrit-test-client"], false)?,
            untrusted_ca_pem: other.pem(),
            untrusted_client: new_leaf(
                &other,
                Leaf::Client,
                &["agentwrit-untrusted-client"],
                false,
            )?,
            expired_server: new_leaf(&ca, Leaf::Server, &SERVER_NAMES, true)?,
            wrong_host_server: new_leaf(&ca, Leaf::Server, &[WRONG_HOST], false)?,
        })
    }

    /// The CA certificate: clients trust it for the broker, and the broker
    /// trusts it for client certificates under mTLS.
    #[must_use]
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The broker's certificate, valid for `localhost`, `127.0.0.1` and
    /// `::1`, signed by [`TestPki::ca_pem`].
    #[must_use]
    pub fn server(&self) -> &TestIdentity {
        &self.server
    }

    /// A client certificate signed by [`TestPki::ca_pem`] (accepted under
    /// mTLS).
    #[must_use]
    pub fn client(&self) -> &TestIdentity {
        &self.client
    }

    /// A second CA that nothing trusts.
    #[must_use]
    pub fn untrusted_ca_pem(&self) -> &str {
        &self.untrusted_ca_pem
    }

    /// A client certificate signed by [`TestPki::untrusted_ca_pem`]
    /// (refused under mTLS).
    #[must_use]
    pub fn untrusted_client(&self) -> &TestIdentity {
        &self.untrusted_client
    }

    /// A server certificate for the right names, signed by the trusted CA,
    /// that expired on 2001-01-01.
    #[must_use]
    pub fn expired_server(&self) -> &TestIdentity {
        &self.expired_server
    }

    /// A server certificate signed by the trusted CA for
    /// `not-the-broker.example` only (a hostname mismatch for
    /// `127.0.0.1` and `localhost`).
    #[must_use]
    pub fn wrong_host_server(&self) -> &TestIdentity {
        &self.wrong_host_server
    }

    /// One-way TLS with [`TestPki::server`].
    ///
    /// # Errors
    ///
    /// As [`TlsServerConfig::from_pem`] (not expected).
    pub fn server_config(&self) -> Result<TlsServerConfig, DevBrokerError> {
        TlsServerConfig::from_pem(self.server.cert_pem(), self.server.key_pem())
    }

    /// Mutual TLS with [`TestPki::server`], requiring client certificates
    /// signed by [`TestPki::ca_pem`].
    ///
    /// # Errors
    ///
    /// As [`TlsServerConfig::require_client_cert`] (not expected).
    pub fn mtls_server_config(&self) -> Result<TlsServerConfig, DevBrokerError> {
        self.server_config()?.require_client_cert(&self.ca_pem)
    }

    /// Writes every certificate and key as a PEM file into `dir` (which
    /// must exist); the file names are listed on [`TestPkiDir`]. Key files
    /// are created readable by the owner only (on Unix).
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Io`] when a file cannot be written.
    pub fn write_to(&self, dir: &Path) -> Result<(), DevBrokerError> {
        let files: [(&str, &str, bool); 12] = [
            ("ca.pem", &self.ca_pem, false),
            ("server.pem", self.server.cert_pem(), false),
            ("server-key.pem", self.server.key_pem(), true),
            ("client.pem", self.client.cert_pem(), false),
            ("client-key.pem", self.client.key_pem(), true),
            ("untrusted-ca.pem", &self.untrusted_ca_pem, false),
            (
                "untrusted-client.pem",
                self.untrusted_client.cert_pem(),
                false,
            ),
            (
                "untrusted-client-key.pem",
                self.untrusted_client.key_pem(),
                true,
            ),
            ("expired-server.pem", self.expired_server.cert_pem(), false),
            (
                "expired-server-key.pem",
                self.expired_server.key_pem(),
                true,
            ),
            (
                "wrong-host-server.pem",
                self.wrong_host_server.cert_pem(),
                false,
            ),
            (
                "wrong-host-server-key.pem",
                self.wrong_host_server.key_pem(),
                true,
            ),
        ];
        for (name, text, private) in files {
            write_file(&dir.join(name), text, private)?;
        }
        Ok(())
    }

    /// Writes the files into a new directory under the system's temporary
    /// directory, removed again when the returned [`TestPkiDir`] drops.
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Io`] when the directory or a file cannot be made,
    /// [`DevBrokerError::Randomness`] when no unique name can be drawn.
    pub fn write_to_temp_dir(&self) -> Result<TestPkiDir, DevBrokerError> {
        let dir = std::env::temp_dir().join(format!("agentwrit-test-pki-{}", random_hex::<8>()?));
        std::fs::create_dir(&dir).map_err(|source| DevBrokerError::Io {
            path: dir.clone(),
            source,
        })?;
        let out = TestPkiDir { dir };
        self.write_to(&out.dir)?;
        Ok(out)
    }
}

fn write_file(path: &Path, text: &str, private: bool) -> Result<(), DevBrokerError> {
    let io_err = |source| DevBrokerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(text.as_bytes()).map_err(io_err)
}

/// A temporary directory holding a [`TestPki`] as PEM files; deleted on
/// drop. The files: `ca.pem`, `server.pem`, `server-key.pem`,
/// `client.pem`, `client-key.pem`, `untrusted-ca.pem`,
/// `untrusted-client.pem`, `untrusted-client-key.pem`,
/// `expired-server.pem`, `expired-server-key.pem`,
/// `wrong-host-server.pem`, `wrong-host-server-key.pem`.
///
/// ```
/// let pki = agentwrit_devbroker::tls::TestPki::generate()?;
/// let dir = pki.write_to_temp_dir()?;
/// assert_eq!(std::fs::read_to_string(dir.ca_cert()).unwrap(), pki.ca_pem());
/// assert!(dir.file("wrong-host-server.pem").exists());
/// let path = dir.path().to_path_buf();
/// drop(dir);
/// assert!(!path.exists());
/// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
/// ```
#[derive(Debug)]
pub struct TestPkiDir {
    dir: PathBuf,
}

impl TestPkiDir {
    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The path of one of the files, by name.
    #[must_use]
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `ca.pem` (for `--tls-client-ca` / `AA_TLS_CLIENT_CA`, and for clients).
    #[must_use]
    pub fn ca_cert(&self) -> PathBuf {
        self.file("ca.pem")
    }

    /// `server.pem` (for `--tls-cert` / `AA_TLS_CERT`).
    #[must_use]
    pub fn server_cert(&self) -> PathBuf {
        self.file("server.pem")
    }

    /// `server-key.pem` (for `--tls-key` / `AA_TLS_KEY`).
    #[must_use]
    pub fn server_key(&self) -> PathBuf {
        self.file("server-key.pem")
    }

    /// `client.pem`.
    #[must_use]
    pub fn client_cert(&self) -> PathBuf {
        self.file("client.pem")
    }

    /// `client-key.pem`.
    #[must_use]
    pub fn client_key(&self) -> PathBuf {
        self.file("client-key.pem")
    }
}

impl Drop for TestPkiDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
