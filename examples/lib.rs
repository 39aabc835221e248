//! What the examples share: the development broker they fall back on,
//! and printing scopes the way the sample apps' expected output shows them.
//!
//! Each example builds its client with `App::from_env()` when
//! `AGENTWRIT_BROKER_URL` is set (with `AGENTWRIT_CLIENT_ID` and
//! `AGENTWRIT_CLIENT_SECRET`). When it is unset, [`DevApp::unless_configured`]
//! starts the development broker in-process (issuer `agentwrit`, as the
//! sample apps' output shows), registers the sample apps' universal app on
//! it and says so in one line on stderr; the example then builds its client
//! from that app with `App::new` and runs unchanged.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use agentwrit_blocking::wire::ClientSecret;
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, RegisteredApp};

/// An embedded development broker and the universal sample app registered
/// on it. The broker stops when this is dropped, so keep it alive as long
/// as the client that talks to it.
pub struct DevApp {
    broker: DevBrokerHandle,
    app: RegisteredApp,
}

impl DevApp {
    /// `None` when `AGENTWRIT_BROKER_URL` is set (use `App::from_env()`);
    /// otherwise starts an embedded development broker, registers the
    /// universal sample app and says so in one line on stderr.
    ///
    /// # Errors
    ///
    /// Only when the embedded broker cannot start or register its app.
    pub fn unless_configured() -> Result<Option<DevApp>, Box<dyn std::error::Error>> {
        if std::env::var_os("AGENTWRIT_BROKER_URL").is_some_and(|v| !v.is_empty()) {
            return Ok(None);
        }
        let broker = DevBroker::builder().issuer("agentwrit").start()?;
        let app = broker.register_universal_app()?;
        eprintln!(
            "(AGENTWRIT_BROKER_URL is not set: using an embedded development broker at {})",
            broker.url()
        );
        Ok(Some(DevApp { broker, app }))
    }

    /// The embedded broker's URL.
    pub fn url(&self) -> &str {
        self.broker.url()
    }

    /// The sample app's client id.
    pub fn client_id(&self) -> &str {
        &self.app.client_id
    }

    /// The sample app's client secret.
    pub fn client_secret(&self) -> &ClientSecret {
        &self.app.client_secret
    }
}

/// A list of strings as Python prints it: `['a', 'b']`.
pub fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{}'", s.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

/// String pairs as Python prints a dict: `{'a': '1', 'b': '2'}`.
pub fn py_dict(pairs: &[(&str, &str)]) -> String {
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("'{k}': '{v}'")).collect();
    format!("{{{}}}", items.join(", "))
}

/// The first `n` characters of a token, for display.
pub fn prefix(token: &str, n: usize) -> &str {
    token.get(..n).unwrap_or(token)
}

/// The value after `--name` (or in `--name=value`) on the command line.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    let with_eq = format!("--{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == &long {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&with_eq).map(str::to_owned)
        }
    })
}

/// The order worker's `--customer` and `--order`, or a usage message.
///
/// # Errors
///
/// A usage message when either is missing or empty.
pub fn order_args() -> Result<(String, String), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: order_worker --customer <id> --order <id>   (e.g. --customer cust-7291 --order ord-4823)";
    let customer = flag(&args, "customer").filter(|v| !v.is_empty());
    let order = flag(&args, "order").filter(|v| !v.is_empty());
    match (customer, order) {
        (Some(c), Some(o)) => Ok((c, o)),
        _ => Err(usage.to_owned()),
    }
}

/// One tenant of the data pipeline sample.
pub struct Tenant {
    /// Short id, used in scopes and task ids.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// What kind of data it holds.
    pub data_type: &'static str,
    /// The scope that reads its analytics.
    pub read_scope: &'static str,
    /// The scope that writes its reports.
    pub write_scope: &'static str,
    /// Its (mock) data.
    pub data: &'static [(&'static str, &'static str)],
}

/// The pipeline's three tenants; in a real system they come from a
/// database.
pub const TENANTS: [Tenant; 3] = [
    Tenant {
        id: "hospital",
        name: "Metro Health System",
        data_type: "patient analytics",
        read_scope: "read:analytics:hospital",
        write_scope: "write:reports:hospital",
        data: &[
            ("patient_visits", "12,847"),
            ("avg_stay", "3.2 days"),
            ("readmit_rate", "4.1%"),
        ],
    },
    Tenant {
        id: "bank",
        name: "First National Bank",
        data_type: "financial analytics",
        read_scope: "read:analytics:bank",
        write_scope: "write:reports:bank",
        data: &[
            ("transactions", "2.4M"),
            ("avg_balance", "$8,420"),
            ("fraud_rate", "0.02%"),
        ],
    },
    Tenant {
        id: "retail",
        name: "ShopWave Corp",
        data_type: "sales analytics",
        read_scope: "read:analytics:retail",
        write_scope: "write:reports:retail",
        data: &[
            ("orders", "847K"),
            ("avg_order", "$67.30"),
            ("return_rate", "8.4%"),
        ],
    },
];
