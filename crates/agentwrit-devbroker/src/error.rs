//! Errors of the library API (the HTTP side answers with problem+json).

use agentwrit_wire::ErrorCode;

/// What can go wrong starting or driving a development broker from Rust.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevBrokerError {
    /// The listening socket could not be bound or configured.
    #[error("could not bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The broker's own tokio runtime or thread could not be started.
    #[error("could not start the broker runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A builder setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A TLS certificate, key or CA is unusable (no PEM block, a key
    /// that does not match the certificate, an invalid CA, ...).
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// A file (a PEM file, or the test PKI's directory) could not be read
    /// or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,
    /// The broker refused an in-process request the way it would refuse
    /// the HTTP request (for example a duplicate app name).
    #[error("{status} {code}: {detail}")]
    Rejected {
        /// The HTTP status the broker would answer with.
        status: u16,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's detail text.
        detail: String,
    },
}
