//! What the rows run against: the measured binaries (built with the
//! `bench-cost` profile), a throwaway PKI, and two development brokers
//! (plain HTTP and HTTPS) in their own processes, which are never traced.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::python::Broker;
use crate::util::{cargo, run, target_dir};

/// The cargo profile the measured binaries are built with: release code
/// with line tables, so `callgrind_annotate` names functions and lines.
pub(super) const PROFILE: &str = "bench-cost";

/// The built binaries and the directory results go to.
pub(super) struct Binaries {
    /// `<target dir>/bench-cost`.
    pub dir: PathBuf,
    /// agentwrit-bench's `cost` binary.
    pub cost: PathBuf,
    broker: PathBuf,
}

/// Builds the development broker and the `cost` binary.
pub(super) fn build() -> Result<Binaries, String> {
    run(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--quiet",
        "-p",
        "agentwrit-devbroker",
        "-p",
        "agentwrit-bench",
        "--bins",
    ]))?;
    let dir = target_dir()?.join(PROFILE);
    let exe = |n: &str| dir.join(format!("{n}{}", std::env::consts::EXE_SUFFIX));
    Ok(Binaries {
        cost: exe("cost"),
        broker: exe("agentwrit-devbroker"),
        dir,
    })
}

/// The two brokers, running until dropped, and the environment that
/// tells the `cost` binary (and the Python script) where they are.
pub(super) struct Brokers {
    _plain: Broker,
    _tls: Broker,
    pub envs: Vec<(&'static str, String)>,
}

impl Brokers {
    /// Writes the HTTPS broker's throwaway identity under the results
    /// directory, then starts both brokers (rate limits off).
    pub(super) fn start(bins: &Binaries) -> Result<Brokers, String> {
        let pki = bins.dir.join("pki");
        run(Command::new(&bins.cost).arg("pki").arg(&pki))?;
        let plain = Broker::start(&bins.broker, &["--no-rate-limits"])?;
        let (cert, key) = (pki.join("server.pem"), pki.join("server-key.pem"));
        let tls_args = [
            "--no-rate-limits",
            "--tls-mode",
            "tls",
            "--tls-cert",
            path_str(&cert)?,
            "--tls-key",
            path_str(&key)?,
        ];
        let tls = Broker::start(&bins.broker, &tls_args)?;
        eprintln!(
            "bench-cost: development brokers at {} and {} (own processes, not measured)",
            plain.url, tls.url
        );
        let envs = vec![
            ("AGENTWRIT_BROKER_URL", plain.url.clone()),
            ("AGENTWRIT_CLIENT_ID", plain.client_id.clone()),
            ("AGENTWRIT_CLIENT_SECRET", plain.client_secret.clone()),
            ("AGENTWRIT_COST_HTTPS_URL", tls.url.clone()),
            ("AGENTWRIT_COST_HTTPS_CLIENT_ID", tls.client_id.clone()),
            (
                "AGENTWRIT_COST_HTTPS_CLIENT_SECRET",
                tls.client_secret.clone(),
            ),
            (
                "AGENTWRIT_COST_CA_FILE",
                path_str(&pki.join("ca.pem"))?.to_owned(),
            ),
        ];
        Ok(Brokers {
            _plain: plain,
            _tls: tls,
            envs,
        })
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}
