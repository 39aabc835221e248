//! TLS for ureq on core's rustls configuration: the same
//! `rustls::ClientConfig` the async transport hands reqwest, so both
//! clients trust, present and negotiate exactly the same.
//!
//! ureq's own rustls connector builds its configuration from parts and
//! flushes before it reads; this one reads what the broker sent even when
//! a write failed. Under TLS 1.3 a broker refuses a client certificate
//! after the client's handshake is complete (an alert, then close), so a
//! client still writing its request meets a closed socket: reading the
//! alert turns that broken pipe into the TLS error it really is.

use std::fmt;
use std::io::{self, ErrorKind, Read as _, Write as _};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// Wraps a connection to an `https://` URL in TLS with `config`.
pub(crate) struct SdkTlsConnector {
    config: Arc<ClientConfig>,
}

impl SdkTlsConnector {
    pub(crate) fn new(config: Arc<ClientConfig>) -> Self {
        SdkTlsConnector { config }
    }
}

impl fmt::Debug for SdkTlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkTlsConnector").finish_non_exhaustive()
    }
}

impl<In: Transport> Connector<In> for SdkTlsConnector {
    type Out = Either<In, SdkTlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails<'_>,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .authority()
            .map(|a| a.host())
            .unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("the broker's host is not a valid TLS server name"))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(SdkTlsTransport {
            buffers,
            conn,
            sock,
        })))
    }
}

/// A TLS connection to the broker.
pub(crate) struct SdkTlsTransport {
    buffers: LazyBuffers,
    conn: ClientConnection,
    sock: TransportAdapter,
}

impl fmt::Debug for SdkTlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkTlsTransport").finish_non_exhaustive()
    }
}

fn closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
    )
}

impl SdkTlsTransport {
    /// Sends every TLS record rustls has queued.
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        Ok(())
    }

    /// Reads and processes what the peer sent: `Ok(false)` at its end of
    /// stream, the peer's alert or a protocol error as an `InvalidData`
    /// I/O error carrying the `rustls::Error`.
    fn receive(&mut self) -> io::Result<bool> {
        let n = self.conn.read_tls(&mut self.sock)?;
        self.conn
            .process_new_packets()
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        Ok(n > 0)
    }

    /// After a write found the connection closed: the broker's reason, if
    /// it sent one before closing, else the write's own error.
    fn reason_for(&mut self, write: io::Error) -> io::Error {
        match self.receive() {
            Err(e) if e.kind() == ErrorKind::InvalidData => e,
            _ => write,
        }
    }
}

impl Transport for SdkTlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.sock.set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.conn.writer().write_all(output)?;
        match self.flush_tls() {
            Err(e) if closed(&e) => Err(self.reason_for(e).into()),
            other => Ok(other?),
        }
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.sock.set_timeout(timeout);
        loop {
            let input = self.buffers.input_append_buf();
            match self.conn.reader().read(input) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
            // Anything rustls queued (a key update, say) goes out first;
            // a closed socket must not hide the alert waiting to be read.
            match self.flush_tls() {
                Err(e) if closed(&e) => {}
                other => other?,
            }
            if !self.receive()? {
                // The peer's end of stream: the reader now says whether it
                // closed cleanly (Ok(0)) or not (UnexpectedEof).
                let input = self.buffers.input_append_buf();
                let n = self.conn.reader().read(input)?;
                self.buffers.input_appended(n);
                return Ok(n > 0);
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.sock.get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
