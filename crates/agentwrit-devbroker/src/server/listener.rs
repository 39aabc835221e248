//! The listeners the HTTP server accepts from: the peer's address on
//! plain and TLS connections alike, and a count of accepted connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};

use crate::tls::TlsListener;

/// The client's socket address, on plain and TLS listeners alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub(super) SocketAddr);

impl Connected<IncomingStream<'_, Counted<tokio::net::TcpListener>>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Counted<tokio::net::TcpListener>>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, Counted<TlsListener>>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Counted<TlsListener>>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A listener that counts the connections it hands to the HTTP server
/// (`DevBrokerHandle::connections_accepted`).
pub(crate) struct Counted<L> {
    inner: L,
    accepted: Arc<AtomicU64>,
}

impl<L> Counted<L> {
    pub(crate) fn new(inner: L, accepted: Arc<AtomicU64>) -> Self {
        Counted { inner, accepted }
    }
}

impl<L: Listener> Listener for Counted<L> {
    type Io = L::Io;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let accepted = self.inner.accept().await;
        self.accepted.fetch_add(1, Ordering::SeqCst);
        accepted
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
