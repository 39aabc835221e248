//! Scope-usage evidence for services that receive
//! [AgentWrit](https://github.com/devonartis/agentwrit) agent tokens: for
//! each token, what it was **granted** against what the service's requests
//! **used** and what was **denied**, per task.
//!
//! The broker audits everything it issues but cannot see what an agent
//! does with its token at a resource server; the resource server can.
//! This crate is the recording half of that evidence (any verifier in any
//! language calls it: `agentwrit-tower` does with one builder call, and
//! bindings can, since its API takes owned values only) and the reading
//! half (`agentwrit usage report`).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use agentwrit_usage::{MemorySink, Recorder, TokenFacts};
//!
//! let sink = MemorySink::new(); // or JsonlSink::dir(..), OtlpSink (feature `otlp`)
//! let recorder = Recorder::builder().service_name("orders-api").sink(sink.clone()).build()?;
//!
//! // For each request whose token the verifier accepted:
//! let now = SystemTime::now();
//! let facts = || TokenFacts::new("j1", "spiffe://agentwrit.local/agent/o/t/1", now, now + Duration::from_secs(300))
//!     .with_granted(["read:data:*", "write:data:*"])
//!     .with_task_id("t");
//! recorder.request("the.raw.token", "j1", facts);
//! // ...and each scope decision it made on it:
//! recorder.check("j1", &["read:data:customer-7"], true);
//!
//! recorder.shutdown()?; // at the end (dropping the last clone does it too)
//! let record = &sink.records()[0];
//! assert_eq!(record.scopes[0].scope, "read:data:customer-7");
//! assert_eq!(record.granted, ["read:data:*", "write:data:*"]); // write:data:* unused
//! # Ok::<(), agentwrit_usage::UsageError>(())
//! ```
//!
//! # What is recorded, and what never is
//!
//! Per token: `jti`, subject (SPIFFE id), `orch_id`, `task_id`, app (when
//! the verifier knows it), granted scopes, `iat`/`exp`, delegation depth and
//! delegating agent; the number of accepted requests with the first and
//! last; per (required scope, decision) the count, first and last; requests
//! refused after the token was accepted (expired; revoked or released).
//! **Never the token**: the recorder keeps a SHA-256 fingerprint of it to
//! recognise the very same token when it is later refused.
//!
//! # Memory, threads, failure
//!
//! Aggregated per token, bounded (tokens, pairs per token, writer queue);
//! what does not fit is counted, never silently lost. Sinks run on one
//! writer thread (`agentwrit-usage`), never on a request's path. A sink
//! failure is counted and returned by the next [`Recorder::flush`].
//!
//! # Sinks
//!
//! * [`JsonlSink`]: append-only JSON Lines, one file per process in a
//!   shared directory.
//! * `OtlpSink` (feature `otlp`): OTLP log records over HTTP (protobuf or
//!   JSON) to any OpenTelemetry collector.
//! * [`MemorySink`]: in memory.
//! * Your own: implement [`Sink`].
//!
//! Counters: [`Recorder::counters`] always; with the `metrics` feature also
//! through the `metrics` facade (`agentwrit_scope_checks_total{decision}`,
//! `agentwrit_token_requests_total{decision}`,
//! `agentwrit_usage_records_total{outcome}`; no per-token labels).
//!
//! # Reading
//!
//! [`Reader`] reads JSON Lines files, directories and OTLP JSON exports;
//! [`ReportBuilder`] merges records per task agent, joins the broker's
//! audit trail and computes the [`recommend`]ed minimal scope set.
//! `docs/usage-evidence.md` documents both schemas and the limits of the
//! evidence.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod error;
mod facts;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "otlp")]
mod otlp;
mod read;
mod record;
mod recorder;
mod report;
mod sink;
mod time;

pub use error::UsageError;
pub use facts::TokenFacts;
#[cfg(feature = "metrics")]
pub use metrics::{
    RECORDS as METRIC_RECORDS, SCOPE_CHECKS as METRIC_SCOPE_CHECKS,
    TOKEN_REQUESTS as METRIC_TOKEN_REQUESTS,
};
#[cfg(feature = "otlp")]
pub use otlp::{OtlpProtocol, OtlpSink, OtlpSinkBuilder};
pub use read::{OTLP_EVENT_NAME, ReadError, Reader};
pub use record::{Decision, EndReason, Refusal, Refused, SCHEMA, ScopeUse, UsageRecord};
pub use recorder::{
    Counters, DEFAULT_CAPACITY, DEFAULT_GRACE, DEFAULT_MAX_SCOPES_PER_TOKEN,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_SWEEP_INTERVAL, Recorder, RecorderBuilder,
};
pub use report::{
    Coverage, Inputs, KindDenied, KindReport, KindRule, KindScope, REPORT_SCHEMA, Recommendation,
    RefusedCount, Report, ReportBuilder, ReportOptions, ScopeCount, ServiceSummary, TaskReport,
    recommend,
};
pub use sink::{DEFAULT_MAX_FILE_BYTES, JsonlSink, MemorySink, Sink};

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
