//! What the rows run against: the measured binaries (from the shared
//! optimised build, [`crate::builds`]), a throwaway PKI, and two
//! development brokers (plain HTTP and HTTPS) in their own processes, which
//! are never traced.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::python::Broker;
use crate::util::{run, target_dir};

/// The built binaries and the directory results go to.
pub(super) struct Binaries {
    /// `<target dir>/bench-cost`: results, profiles, the PKI.
    pub dir: PathBuf,
    /// agentwrit-bench's `cost` binary.
    pub cost: PathBuf,
    broker: PathBuf,
}

/// The development broker and the `cost` binary, optimised with line
/// tables (the release profile), so `callgrind_annotate` names functions
/// and lines.
pub(super) fn build() -> Result<Binaries, String> {
    let dir = target_dir()?.join("bench-cost");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(Binaries {
        cost: crate::builds::optimised_bin("cost")?,
        broker: crate::builds::optimised_bin("agentwrit-devbroker")?,
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
