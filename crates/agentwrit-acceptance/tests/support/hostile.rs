//! A hostile HTTP/1.1 server on loopback, written for the fault tests.
//!
//! It reads each request whole (request line, headers, a
//! `Content-Length` body), records it, asks the test's script what to do
//! with it ([`Fault`]) and does that: answer, misbehave, or forward the
//! request to an upstream (a development broker) and relay, swallow or
//! drop the broker's answer. One thread per connection, one request per
//! connection (every answer says `Connection: close`).
//!
//! Nothing here sleeps to synchronise: a held connection waits on a
//! condition variable that dropping the server signals, a drip waits on
//! the same variable with a one-second timeout between bytes (that is
//! the fault being simulated, not synchronisation), and what a huge body
//! did is reported over a channel.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long any socket operation of the server may block: a safety net so
/// that a broken test leaks no thread for long, far beyond every client
/// timeout used.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(20);

/// A request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, e.g. `/v1/register`.
    pub path: String,
    /// 1 for the first request with this method and path, 2 for the
    /// second, ...
    pub nth: usize,
}

impl Seen {
    /// True for `method path`.
    pub fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Forward to the upstream and relay its answer.
    Forward,
    /// Never answer: hold the connection until the server is dropped.
    Hang,
    /// Forward to the upstream (so that the broker acts on it), read its
    /// answer, then never answer the client.
    ForwardThenHang,
    /// Forward to the upstream, read its answer, then close the connection
    /// without a byte.
    ForwardThenClose,
    /// Send these bytes one per second, then close.
    Drip(Vec<u8>),
    /// Send `head` at once, then `body` one byte per second.
    DripBody { head: Vec<u8>, body: Vec<u8> },
    /// Send these bytes, then close.
    Raw(Vec<u8>),
    /// A complete response.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A response whose `Content-Length` is `declared`, with only `body`
    /// (shorter) sent before the connection closes.
    Truncated {
        status: u16,
        declared: usize,
        body: Vec<u8>,
    },
    /// A 200 `application/json` body of `total` bytes, streamed in 64 KiB
    /// chunks until done or the client hangs up (reported through
    /// [`Hostile::huge_outcome`]). With `declare_length`, a
    /// `Content-Length` header; without, the body ends when the
    /// connection closes.
    Huge { total: usize, declare_length: bool },
}

impl Fault {
    /// A complete response with a JSON (or problem+json) body.
    pub fn json(status: u16, content_type: &str, body: &str) -> Fault {
        Fault::Respond {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    /// Adds a header to a [`Fault::Respond`].
    pub fn with_header(mut self, name: &str, value: &str) -> Fault {
        if let Fault::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// What the server saw while streaming a [`Fault::Huge`] body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HugeOutcome {
    /// Body bytes the kernel accepted before the stream ended.
    pub written: usize,
    /// The body size promised.
    pub total: usize,
    /// True when a write failed because the client had gone.
    pub client_hung_up: bool,
}

type Script = dyn Fn(&Seen) -> Fault + Send + Sync;

struct Shared {
    script: Box<Script>,
    upstream: Option<SocketAddr>,
    seen: Mutex<Vec<Seen>>,
    /// Set (and notified) when the server is dropped: held connections
    /// and drips end.
    released: Mutex<bool>,
    release: Condvar,
    stopped: AtomicBool,
    huge: Mutex<Sender<HugeOutcome>>,
}

impl Shared {
    /// Waits until released or `timeout` passed; true when released.
    fn wait_released(&self, timeout: Option<Duration>) -> bool {
        let guard = self.released.lock().unwrap();
        match timeout {
            None => *self.release.wait_while(guard, |r| !*r).unwrap(),
            Some(t) => {
                *self
                    .release
                    .wait_timeout_while(guard, t, |r| !*r)
                    .unwrap()
                    .0
            }
        }
    }
}

/// The server. Dropping it releases every held connection and stops it.
pub struct Hostile {
    addr: SocketAddr,
    shared: Arc<Shared>,
    huge: Mutex<Receiver<HugeOutcome>>,
}

impl Hostile {
    /// A server answering every request as `script` says.
    pub fn start(script: impl Fn(&Seen) -> Fault + Send + Sync + 'static) -> Hostile {
        Self::with_upstream(None, script)
    }

    /// A proxy in front of `upstream` (`http://127.0.0.1:port`): `script`
    /// says which requests to forward ([`Fault::Forward`]) and which to
    /// break.
    pub fn proxy(
        upstream: &str,
        script: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
    ) -> Hostile {
        let addr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("an http://127.0.0.1:port upstream");
        Self::with_upstream(Some(addr), script)
    }

    fn with_upstream(
        upstream: Option<SocketAddr>,
        script: impl Fn(&Seen) -> Fault + Send + Sync + 'static,
    ) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = channel();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            upstream,
            seen: Mutex::new(Vec::new()),
            released: Mutex::new(false),
            release: Condvar::new(),
            stopped: AtomicBool::new(false),
            huge: Mutex::new(tx),
        });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("hostile-accept".into())
            .spawn(move || accept_loop(&listener, &accepting))
            .unwrap();
        Hostile {
            addr,
            shared,
            huge: Mutex::new(rx),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many `method path` requests were received.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.seen().iter().filter(|s| s.is(method, path)).count()
    }

    /// What the next [`Fault::Huge`] stream did, waiting at most `bound`
    /// for it to end (the stream ends when the client hangs up).
    pub fn huge_outcome(&self, bound: Duration) -> Option<HugeOutcome> {
        self.huge.lock().unwrap().recv_timeout(bound).ok()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        *self.shared.released.lock().unwrap() = true;
        self.shared.release.notify_all();
        // Wake the accept loop so that it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A port on which nothing listens: bound, then released.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("hostile-conn".into())
            .spawn(move || {
                let _ = serve(stream, &shared);
            });
    }
}

/// A request as read off the wire.
struct Request {
    method: String,
    path: String,
    /// Header lines, without the line ends.
    headers: Vec<String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            assert_ne!(
                name, "transfer-encoding",
                "the SDK sends request bodies with a Content-Length"
            );
            if name == "content-length" {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        headers.push(header.to_owned());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn serve(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    let Some(request) = read_request(&stream)? else {
        return Ok(());
    };
    let seen = {
        let mut log = shared.seen.lock().unwrap();
        let nth = 1 + log
            .iter()
            .filter(|s| s.is(&request.method, &request.path))
            .count();
        let seen = Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            nth,
        };
        log.push(seen.clone());
        seen
    };
    match (shared.script)(&seen) {
        Fault::Forward => {
            let answer = forward(shared, &request)?;
            stream.write_all(&answer)?;
        }
        Fault::Hang => {
            shared.wait_released(None);
        }
        Fault::ForwardThenHang => {
            forward(shared, &request)?;
            shared.wait_released(None);
        }
        Fault::ForwardThenClose => {
            forward(shared, &request)?;
        }
        Fault::Drip(bytes) => drip(&mut stream, shared, &bytes)?,
        Fault::DripBody { head, body } => {
            stream.write_all(&head)?;
            drip(&mut stream, shared, &body)?;
        }
        Fault::Raw(bytes) => stream.write_all(&bytes)?,
        Fault::Respond {
            status,
            headers,
            body,
        } => {
            stream.write_all(&response_head(status, &headers, Some(body.len())))?;
            stream.write_all(&body)?;
        }
        Fault::Truncated {
            status,
            declared,
            body,
        } => {
            let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
            stream.write_all(&response_head(status, &headers, Some(declared)))?;
            stream.write_all(&body)?;
        }
        Fault::Huge {
            total,
            declare_length,
        } => {
            let outcome = stream_huge(&mut stream, total, declare_length);
            let _ = shared.huge.lock().unwrap().send(outcome);
            return Ok(());
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

/// A status line and headers (with `Connection: close`).
pub fn response_head(status: u16, headers: &[(String, String)], length: Option<usize>) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// One byte a second until done, the client gone, or the server dropped.
fn drip(stream: &mut TcpStream, shared: &Shared, bytes: &[u8]) -> std::io::Result<()> {
    for byte in bytes {
        stream.write_all(std::slice::from_ref(byte))?;
        stream.flush()?;
        if shared.wait_released(Some(Duration::from_secs(1))) {
            break;
        }
    }
    Ok(())
}

fn stream_huge(stream: &mut TcpStream, total: usize, declare_length: bool) -> HugeOutcome {
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    let head = response_head(200, &headers, declare_length.then_some(total));
    let mut outcome = HugeOutcome {
        written: 0,
        total,
        client_hung_up: false,
    };
    if stream.write_all(&head).is_err() {
        outcome.client_hung_up = true;
        return outcome;
    }
    // A JSON string that never ends: `{"status":"xxxx...`.
    let mut chunk = vec![b'x'; 64 * 1024];
    chunk[..11].copy_from_slice(br#"{"status":""#);
    while outcome.written < total {
        let n = chunk.len().min(total - outcome.written);
        match stream.write(&chunk[..n]) {
            Ok(0) | Err(_) => {
                outcome.client_hung_up = true;
                break;
            }
            Ok(written) => outcome.written += written,
        }
        chunk[..11].fill(b'x');
    }
    let _ = stream.shutdown(Shutdown::Both);
    outcome
}

/// Sends `request` to the upstream with `Connection: close` and reads its
/// whole answer.
fn forward(shared: &Shared, request: &Request) -> std::io::Result<Vec<u8>> {
    let upstream = shared.upstream.expect("Forward needs an upstream");
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for header in &request.headers {
        if !header.to_ascii_lowercase().starts_with("connection:") {
            head.push_str(header);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&request.body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    Ok(answer)
}
