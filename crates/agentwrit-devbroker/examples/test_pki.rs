//! Writes a fresh throwaway PKI (`agentwrit_devbroker::tls::TestPki`) as PEM
//! files into a directory, for trying the binary over TLS or mutual TLS:
//!
//! ```text
//! cargo run -p agentwrit-devbroker --example test_pki -- /tmp/pki
//! cargo run -p agentwrit-devbroker -- --port 0 --tls-mode mtls \
//!     --tls-cert /tmp/pki/server.pem --tls-key /tmp/pki/server-key.pem \
//!     --tls-client-ca /tmp/pki/ca.pem
//! ```
//!
//! The directory is created if missing; existing files are not overwritten.
//! For tests and local trials only.

use std::path::PathBuf;
use std::process::ExitCode;

use agentwrit_devbroker::tls::TestPki;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: test_pki <DIR>");
        return ExitCode::from(2);
    };
    let written = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|()| TestPki::generate().map_err(|e| e.to_string()))
        .and_then(|pki| pki.write_to(&dir).map_err(|e| e.to_string()));
    if let Err(e) = written {
        eprintln!("test_pki: {e}");
        return ExitCode::FAILURE;
    }
    let d = dir.display();
    println!("# a throwaway PKI in {d}; for the development broker:");
    println!(
        "export AA_TLS_CERT={d}/server.pem AA_TLS_KEY={d}/server-key.pem AA_TLS_CLIENT_CA={d}/ca.pem"
    );
    println!("# for a client (the SDK's variables):");
    println!(
        "export AGENTWRIT_CA_FILE={d}/ca.pem AGENTWRIT_CLIENT_CERT={d}/client.pem AGENTWRIT_CLIENT_KEY={d}/client-key.pem"
    );
    ExitCode::SUCCESS
}
