//! [`DelayProxy`]: a loopback TCP proxy that adds latency, and can hold
//! traffic, between a client and a broker.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A TCP proxy on `127.0.0.1:0` in front of `upstream` (a development
/// broker): every chunk of bytes, in either direction, is forwarded after
/// [`delay`](DelayProxy::set_delay), so that a request is in flight long
/// enough for a test to cancel its caller while it is on the way to the
/// broker, or while its answer is on the way back. [`pause`](DelayProxy::pause)
/// holds every chunk read from then on until [`resume`](DelayProxy::resume);
/// [`pause_at`](DelayProxy::pause_at) does the same from the first chunk
/// that carries a given request (`POST /v1/token/renew`), so that a test
/// knows, without guessing at timing, that exactly that request is on its
/// way and has not reached the broker.
///
/// The delay simulates the network; it synchronises nothing. One thread
/// accepts, and each connection has a thread per direction. Dropping the
/// proxy closes every connection it made and joins its acceptor.
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::Duration;
/// use agentwrit_test_support::DelayProxy;
///
/// let upstream = TcpListener::bind("127.0.0.1:0")?;
/// let proxy = DelayProxy::start(upstream.local_addr()?, Duration::from_millis(5))?;
/// let mut client = TcpStream::connect(proxy.addr())?;
/// client.write_all(b"ping")?;
/// let (mut server, _) = upstream.accept()?;
/// let mut got = [0; 4];
/// server.read_exact(&mut got)?;
/// assert_eq!(&got, b"ping");
/// assert_eq!(proxy.connections(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct DelayProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    delay: Mutex<Duration>,
    paused: Mutex<bool>,
    /// The bytes whose first sighting pauses the proxy (`pause_at`).
    trigger: Mutex<Option<Vec<u8>>>,
    resumed: Condvar,
    stop: AtomicBool,
    connections: AtomicUsize,
    /// Every socket of every connection, to close them on drop.
    sockets: Mutex<Vec<TcpStream>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DelayProxy {
    /// Starts forwarding to `upstream` with `delay` per chunk.
    ///
    /// # Errors
    ///
    /// When the listening socket cannot be bound or the acceptor thread
    /// cannot start.
    pub fn start(upstream: SocketAddr, delay: Duration) -> io::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            delay: Mutex::new(delay),
            paused: Mutex::new(false),
            trigger: Mutex::new(None),
            resumed: Condvar::new(),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            sockets: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || accept(&listener, &accepting))?;
        Ok(DelayProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The proxy's address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the broker's URL through the proxy.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The delay applied to each chunk from now on.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// How many connections the proxy has accepted.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Holds every chunk read from now on (connections are still
    /// accepted) until [`DelayProxy::resume`].
    pub fn pause(&self) {
        *lock(&self.shared.paused) = true;
    }

    /// Pauses, as [`DelayProxy::pause`] does, at the first chunk read
    /// from then on (in either direction) that contains `pattern`: that
    /// chunk and every later one are held until [`DelayProxy::resume`].
    /// Once only: the pattern is forgotten when it is seen. A pattern
    /// split across two reads is not seen, so give the start of a request
    /// (an HTTP/1.1 request line arrives in one read).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::net::{TcpListener, TcpStream};
    /// use std::time::Duration;
    /// use agentwrit_test_support::DelayProxy;
    ///
    /// let upstream = TcpListener::bind("127.0.0.1:0")?;
    /// let proxy = DelayProxy::start(upstream.local_addr()?, Duration::ZERO)?;
    /// proxy.pause_at(b"POST /v1/token/renew");
    /// let mut client = TcpStream::connect(proxy.addr())?;
    /// let (mut server, _) = upstream.accept()?;
    /// let health = b"GET /v1/health HTTP/1.1\r\n\r\n";
    /// client.write_all(health)?;
    /// let mut got = vec![0; health.len()];
    /// server.read_exact(&mut got)?; // not the pattern: forwarded
    /// let renew = b"POST /v1/token/renew HTTP/1.1\r\n\r\n";
    /// client.write_all(renew)?;
    /// while !proxy.is_paused() {
    ///     std::thread::yield_now();
    /// }
    /// proxy.resume(); // the held request goes on
    /// let mut got = vec![0; renew.len()];
    /// server.read_exact(&mut got)?;
    /// assert_eq!(got, renew);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pause_at(&self, pattern: &[u8]) {
        *lock(&self.shared.trigger) = Some(pattern.to_vec());
    }

    /// Whether traffic is held: after [`DelayProxy::pause`], or once the
    /// pattern of [`DelayProxy::pause_at`] was seen, until
    /// [`DelayProxy::resume`].
    #[must_use]
    pub fn is_paused(&self) -> bool {
        *lock(&self.shared.paused)
    }

    /// Forwards what was held, and everything after it.
    pub fn resume(&self) {
        *lock(&self.shared.paused) = false;
        self.shared.resumed.notify_all();
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.resume();
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let Ok(upstream) = TcpStream::connect(shared.upstream) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let pair = [
            (client.try_clone(), upstream.try_clone()),
            (upstream.try_clone(), client.try_clone()),
        ];
        {
            let mut sockets = lock(&shared.sockets);
            sockets.extend(client.try_clone().ok());
            sockets.extend(upstream.try_clone().ok());
        }
        for (from, to) in pair {
            let (Ok(from), Ok(to)) = (from, to) else {
                continue;
            };
            let shared = Arc::clone(shared);
            let _ = std::thread::Builder::new()
                .name("delay-proxy-pump".into())
                .spawn(move || pump(from, to, &shared));
        }
    }
}

/// Copies `from` to `to`, one delayed chunk at a time, until either side
/// closes.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut trigger = lock(&shared.trigger);
            if let Some(pattern) = trigger.as_deref()
                && contains(&buffer[..n], pattern)
            {
                *trigger = None;
                *lock(&shared.paused) = true;
            }
        }
        {
            let mut paused = lock(&shared.paused);
            while *paused {
                paused = shared
                    .resumed
                    .wait(paused)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        let delay = *lock(&shared.delay);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if shared.stop.load(Ordering::SeqCst) || to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Whether `pattern` occurs in `bytes` (an empty pattern always does).
fn contains(bytes: &[u8], pattern: &[u8]) -> bool {
    pattern.is_empty() || bytes.windows(pattern.len()).any(|w| w == pattern)
}
