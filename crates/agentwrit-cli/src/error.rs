//! The command line's one error type and its exit codes.

use std::io;

use agentwrit_async::{Error as SdkError, TransportFailure};

/// Exit codes, one per class of failure (docs/cli.md has the table).
pub mod code {
    /// Success.
    pub const OK: u8 = 0;
    /// The answer is no: a scope check denied, a token that is not valid.
    pub const DENIED: u8 = 1;
    /// Usage: bad arguments, a malformed scope, missing configuration.
    pub const USAGE: u8 = 2;
    /// The broker answered with a refusal (4xx/5xx) or an answer that
    /// breaks the contract.
    pub const REFUSED: u8 = 3;
    /// The broker could not be reached (connection refused, DNS, timeout).
    pub const UNREACHABLE: u8 = 4;
    /// The TLS handshake with the broker failed.
    pub const TLS: u8 = 5;
    /// A local failure: a file that cannot be written, the embedded
    /// development broker cannot start.
    pub const LOCAL: u8 = 6;
    /// `run`: a failure of the wrapper itself (any class above: usage,
    /// refused, unreachable, TLS, local), so that it cannot be taken for
    /// the child's own exit code (as `docker run`, `env` and `timeout` do).
    pub const RUN_FAILED: u8 = 125;
    /// `run`: the command exists but cannot be executed.
    pub const CANNOT_EXECUTE: u8 = 126;
    /// `run`: the command does not exist.
    pub const NOT_FOUND: u8 = 127;
}

/// Everything that can go wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or configuration.
    #[error("{0}")]
    Usage(String),
    /// The SDK's error: the broker's refusal (with its problem and
    /// request id), a transport or TLS failure, input it refused.
    #[error(transparent)]
    Sdk(#[from] SdkError),
    /// A local I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The embedded development broker failed.
    #[error("the embedded development broker: {0}")]
    DevBroker(String),
    /// The child could not be started.
    #[error("cannot run {program:?}: {source}")]
    Spawn {
        /// The program named after `--`.
        program: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `run` was stopped by a signal before the child started.
    #[error("interrupted by signal {signal} before the command started")]
    Interrupted {
        /// The signal number.
        signal: i32,
    },
    /// `run --on-renew-failure exit`: a token could not be renewed before
    /// it expired, so the child was stopped.
    #[error("{0}")]
    RenewalFailed(String),
}

impl CliError {
    /// An I/O failure while doing `context`.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// The exit code for this failure's class.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => code::USAGE,
            CliError::Sdk(e) => sdk_exit_code(e),
            CliError::Io { .. } | CliError::DevBroker(_) => code::LOCAL,
            CliError::Spawn { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => code::NOT_FOUND,
                _ => code::CANNOT_EXECUTE,
            },
            CliError::Interrupted { signal } => {
                u8::try_from(128 + signal).unwrap_or(code::RUN_FAILED)
            }
            CliError::RenewalFailed(_) => code::RUN_FAILED,
        }
    }

    /// The exit code of this failure in `agentwrit run`: 126 and 127 for
    /// a command that cannot run, 128+N when signal N stopped the start,
    /// 125 for every other failure of the wrapper.
    pub fn run_exit_code(&self) -> u8 {
        match self.exit_code() {
            c @ (code::CANNOT_EXECUTE | code::NOT_FOUND) => c,
            _ if matches!(self, CliError::Interrupted { .. }) => self.exit_code(),
            _ => code::RUN_FAILED,
        }
    }

    /// The class name shown in `--json` errors.
    pub fn class(&self) -> &'static str {
        match self {
            CliError::Interrupted { .. } => return "interrupted",
            CliError::RenewalFailed(_) => return "renewal",
            _ => {}
        }
        match self.exit_code() {
            code::USAGE => "usage",
            code::REFUSED => "refused",
            code::UNREACHABLE => "unreachable",
            code::TLS => "tls",
            code::NOT_FOUND | code::CANNOT_EXECUTE => "spawn",
            _ => "local",
        }
    }

    /// The error as one JSON document (for `--json`), with the exit code
    /// the process ends with.
    pub fn to_json(&self, exit_code: u8) -> serde_json::Value {
        let mut error = serde_json::json!({
            "class": self.class(),
            "exit_code": exit_code,
            "message": self.to_string(),
        });
        if let CliError::Sdk(e) = self
            && let Some(problem) = e.problem()
        {
            error["problem"] = serde_json::json!({
                "type": problem.problem_type,
                "title": problem.title,
                "status": problem.status,
                "detail": problem.detail,
                "instance": problem.instance,
                "error_code": problem.error_code.as_ref().map(|c| c.to_string()),
                "request_id": problem.request_id,
                "hint": problem.hint,
            });
        }
        serde_json::json!({ "error": error })
    }
}

fn sdk_exit_code(e: &SdkError) -> u8 {
    match e {
        SdkError::InvalidInput { .. } => code::USAGE,
        SdkError::Transport { .. } if e.tls_failure().is_some() => code::TLS,
        SdkError::Transport { .. } => match e.transport_failure() {
            Some(TransportFailure::Tls) => code::TLS,
            _ => code::UNREACHABLE,
        },
        SdkError::Authentication { .. }
        | SdkError::Authorization { .. }
        | SdkError::RateLimited { .. }
        | SdkError::Problem { .. }
        | SdkError::Decode { .. }
        | SdkError::InvalidToken { .. } => code::REFUSED,
        _ => code::LOCAL,
    }
}
