//! MedAssist: a clinical assistant where a planner picks tools and every
//! tool call runs under a broker agent scoped to **one patient and one
//! category** of work.
//!
//! ```text
//! cargo run -p agentwrit-medassist            # embedded broker, offline planner, a free port
//! cargo run -p agentwrit-medassist -- --port 8700
//! ```
//!
//! The enforcement loop:
//!
//! 1. The planner (an OpenAI-compatible LLM with `LLM_BASE_URL` /
//!    `LLM_API_KEY` / `LLM_MODEL`, or the offline [`OfflinePlanner`]) is
//!    given every tool and proposes calls.
//! 2. Each tool belongs to a category (clinical, prescription, billing).
//!    The first call of a category asks the broker for an agent of that
//!    category whose scope names only the encounter's patient
//!    (`read:records:P-4107`, `read:labs:P-4107`, ...).
//! 3. The tool's required scope is templated on the patient **the call**
//!    names and checked with `scope_is_subset` against the claims of the
//!    agent's token. A call about another patient needs another
//!    patient's scope and is answered `scope_denied`; the tool never runs.
//! 4. `write_prescription` needs `write:prescriptions:{patient}`, which
//!    only the clinical agent holds: it delegates exactly that to the
//!    prescription agent, and the write is checked against the delegated
//!    token's claims.
//! 5. At the end each agent is renewed once (same SPIFFE id, new token;
//!    the old token is shown dead), the delegated token and every agent
//!    are released, and every token is validated again and shown dead.
//!
//! Every step is one typed event on the run's server-sent event stream
//! and one line in the page. The audit tab reads the broker's audit
//! trail with the operator API and checks its hash chain
//! ([`verify_chain`]).
//!
//! # The loop
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use agentwrit_medassist::{OfflinePlanner, embedded_broker, serve};
//!
//! let broker = embedded_broker(agentwrit_devbroker::DevBroker::builder())?;
//! let server = serve(&broker, Arc::new(OfflinePlanner), "127.0.0.1:0".parse()?).await?;
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod audit;
mod data;
mod encounter;
mod offline;
mod scenarios;
mod tools;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use agentwrit_demo_kit::{BrokerSetup, KitError, Planner, Runs};
use agentwrit_devbroker::DevBrokerBuilder;

pub use audit::{ChainBreak, ChainCheck, GENESIS, event_hash, verify_chain};
pub use encounter::ORCH_ID;
pub use offline::OfflinePlanner;
pub use scenarios::{SCENARIOS, Scenario};

/// The app's name at the broker (a self-registered app gets a suffix).
///
/// ```
/// assert_eq!(agentwrit_medassist::APP_NAME, "medassist");
/// ```
pub const APP_NAME: &str = "medassist";

/// The scope ceiling MedAssist's app is registered with: every tool's
/// scope for any patient (`read:records:*`, `write:prescriptions:*`, ...).
///
/// ```
/// let ceiling = agentwrit_medassist::app_ceiling();
/// assert!(ceiling.contains(&"write:prescriptions:*".to_owned()));
/// assert!(agentwrit_async::scope_is_subset(&["read:labs:P-4107"], &ceiling));
/// ```
#[must_use]
pub fn app_ceiling() -> Vec<String> {
    tools::app_ceiling()
}

/// The broker in `AGENTWRIT_BROKER_URL` (with `AGENTWRIT_CLIENT_ID` /
/// `AGENTWRIT_CLIENT_SECRET`, or `AGENTWRIT_ADMIN_SECRET` to register a
/// MedAssist app there and read the audit trail), else an embedded
/// development broker with the MedAssist app.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// if std::env::var_os("AGENTWRIT_BROKER_URL").is_none() {
///     let broker = agentwrit_medassist::broker_from_env().await?;
///     assert!(broker.describe().starts_with("embedded development broker"));
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// Missing credentials next to `AGENTWRIT_BROKER_URL`, the broker
/// refused, the embedded broker could not start.
pub async fn broker_from_env() -> Result<BrokerSetup, KitError> {
    let ceiling = app_ceiling();
    let refs: Vec<&str> = ceiling.iter().map(String::as_str).collect();
    BrokerSetup::from_env_or_embedded(APP_NAME, &refs).await
}

/// An embedded development broker from `builder` with the MedAssist app
/// (tests pass their own builder).
///
/// ```
/// let broker = agentwrit_medassist::embedded_broker(agentwrit_devbroker::DevBroker::builder())?;
/// assert!(broker.operator.is_some()); // the audit tab works
/// # Ok::<(), agentwrit_demo_kit::KitError>(())
/// ```
///
/// # Errors
///
/// The broker could not start or refused the app.
pub fn embedded_broker(builder: DevBrokerBuilder) -> Result<BrokerSetup, KitError> {
    let ceiling = app_ceiling();
    let refs: Vec<&str> = ceiling.iter().map(String::as_str).collect();
    BrokerSetup::embedded(builder, APP_NAME, &refs)
}

/// A running MedAssist server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    instance: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Where it listens.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_medassist::embedded_broker(agentwrit_devbroker::DevBroker::builder())?;
    /// # let server = agentwrit_medassist::serve(&broker, std::sync::Arc::new(agentwrit_medassist::OfflinePlanner), "127.0.0.1:0".parse()?).await?;
    /// assert_ne!(server.addr().port(), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open: `http://127.0.0.1:<port>/`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_medassist::embedded_broker(agentwrit_devbroker::DevBroker::builder())?;
    /// # let server = agentwrit_medassist::serve(&broker, std::sync::Arc::new(agentwrit_medassist::OfflinePlanner), "127.0.0.1:0".parse()?).await?;
    /// assert!(server.url().ends_with('/'));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The tag at the front of every task id this server creates
    /// (`ma-1a2b3c-run-1-clinical`): the audit tab selects this session's
    /// events by it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_medassist::embedded_broker(agentwrit_devbroker::DevBroker::builder())?;
    /// # let server = agentwrit_medassist::serve(&broker, std::sync::Arc::new(agentwrit_medassist::OfflinePlanner), "127.0.0.1:0".parse()?).await?;
    /// assert!(server.instance().starts_with("ma-"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Serves until the task ends (it does not end by itself).
    ///
    /// # Errors
    ///
    /// The server task panicked or was aborted.
    pub async fn wait(mut self) -> Result<(), tokio::task::JoinError> {
        match self.task.take() {
            Some(task) => task.await,
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A tag for this process, unique enough to tell its task ids from
/// another MedAssist's on a shared broker.
fn instance_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos ^ (nanos >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    format!("ma-{:06x}", mixed & 0xff_ffff)
}

/// Starts MedAssist on `addr` (port 0: a free one) against `broker`,
/// with `planner`. The server runs on the current tokio runtime until
/// the returned [`Server`] is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use agentwrit_medassist::{OfflinePlanner, broker_from_env, serve};
///
/// let broker = broker_from_env().await?; // embedded unless AGENTWRIT_BROKER_URL is set
/// let server = serve(&broker, Arc::new(OfflinePlanner), "127.0.0.1:0".parse()?).await?;
/// println!("open {}", server.url());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The address cannot be bound.
pub async fn serve(
    broker: &BrokerSetup,
    planner: Arc<dyn Planner>,
    addr: SocketAddr,
) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let instance = instance_tag();
    let state = web::AppState {
        clinic: encounter::Clinic {
            app: broker.app.clone(),
            planner,
            instance: instance.clone(),
        },
        runs: Runs::new(),
        operator: broker.operator.clone(),
    };
    let router = web::router(state);
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the MedAssist server stopped");
        }
    });
    Ok(Server {
        addr,
        instance,
        task: Some(task),
    })
}
