//! Usage records as OTLP log records over HTTP (feature `otlp`).
//!
//! Each [`UsageRecord`] becomes one log record: event name
//! [`OTLP_EVENT_NAME`](crate::OTLP_EVENT_NAME), body the record's JSON
//! (so a collector's file export reads back into `agentwrit usage report`
//! unchanged), timestamp its last use, and a few attributes for querying
//! in a backend (`agentwrit.jti`, `agentwrit.sub`, `agentwrit.task_id`,
//! `agentwrit.orch_id`, `agentwrit.requests`, `agentwrit.denied`). The
//! OpenTelemetry SDK's batch processor sends them from its own thread.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};

use crate::record::Decision;
use crate::{OTLP_EVENT_NAME, Sink, UsageError, UsageRecord};

/// The OTLP/HTTP encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// `application/x-protobuf` (what collectors expect by default).
    #[default]
    HttpProtobuf,
    /// `application/json`.
    HttpJson,
}

/// Sends usage records to an OpenTelemetry collector (or any OTLP/HTTP
/// logs endpoint). Build with [`OtlpSink::builder`], or wrap a logger
/// provider you configured yourself with [`OtlpSink::from_provider`].
///
/// ```
/// use std::time::Duration;
/// use agentwrit_usage::{OtlpProtocol, OtlpSink, Recorder};
///
/// let sink = OtlpSink::builder("http://127.0.0.1:4318/v1/logs")
///     .protocol(OtlpProtocol::HttpProtobuf)
///     .service_name("orders-api")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// let recorder = Recorder::builder().service_name("orders-api").sink(sink).build()?;
/// # drop(recorder);
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
pub struct OtlpSink {
    provider: SdkLoggerProvider,
    logger: SdkLogger,
}

impl fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSink").finish_non_exhaustive()
    }
}

impl OtlpSink {
    /// A sink for the logs endpoint `endpoint` (the full URL, e.g.
    /// `http://collector:4318/v1/logs`).
    pub fn builder(endpoint: impl Into<String>) -> OtlpSinkBuilder {
        OtlpSinkBuilder {
            endpoint: endpoint.into(),
            protocol: OtlpProtocol::default(),
            headers: HashMap::new(),
            timeout: Duration::from_secs(10),
            roots: Vec::new(),
            service_name: None,
        }
    }

    /// A sink on a logger provider you built (your exporter, processor and
    /// resource). The sink flushes and shuts it down with the recorder.
    #[must_use]
    pub fn from_provider(provider: SdkLoggerProvider) -> Self {
        let logger = provider.logger("agentwrit-usage");
        OtlpSink { provider, logger }
    }
}

/// Configures an [`OtlpSink`]; from [`OtlpSink::builder`].
#[must_use]
pub struct OtlpSinkBuilder {
    endpoint: String,
    protocol: OtlpProtocol,
    headers: HashMap<String, String>,
    timeout: Duration,
    roots: Vec<Vec<u8>>,
    service_name: Option<String>,
}

impl fmt::Debug for OtlpSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: names only.
        f.debug_struct("OtlpSinkBuilder")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl OtlpSinkBuilder {
    /// Protobuf (default) or JSON.
    pub fn protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// A header on every export request (e.g. a backend's API key).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// The timeout of one export request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts this CA (PEM) for an `https://` endpoint, beside Mozilla's
    /// roots.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.roots.push(pem.to_vec());
        self
    }

    /// The `service.name` resource attribute (default: the SDK's, from
    /// `OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Builds the exporter, its HTTP client (rustls on the project's
    /// crypto provider; no redirects) and a batching logger provider.
    ///
    /// # Errors
    ///
    /// [`UsageError::Config`] for an endpoint that is not an `http(s)` URL
    /// or a CA that is not PEM.
    pub fn build(self) -> Result<OtlpSink, UsageError> {
        let scheme_ok =
            self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://");
        if !scheme_ok || self.endpoint.parse::<http::Uri>().is_err() {
            return Err(UsageError::Config(format!(
                "the OTLP endpoint {:?} is not an http:// or https:// URL",
                self.endpoint
            )));
        }
        let mut settings = agentwrit_core::ClientSettings::new(self.endpoint.clone());
        for pem in &self.roots {
            settings = settings.add_root_certificate_pem(pem);
        }
        let tls = settings
            .tls_setup()
            .map_err(|e| UsageError::Config(format!("OTLP endpoint TLS: {e}")))?;
        let config = rustls_config(&tls);
        let timeout = self.timeout;
        // reqwest's blocking client owns a runtime: build it off any
        // async context the caller may be in.
        let client = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .tls_backend_preconfigured(config)
                .build()
        })
        .join()
        .map_err(|_| UsageError::Thread("building the OTLP HTTP client panicked".into()))?
        .map_err(|e| UsageError::Config(format!("the OTLP HTTP client: {e}")))?;
        let protocol = match self.protocol {
            OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
            OtlpProtocol::HttpJson => Protocol::HttpJson,
        };
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_endpoint(self.endpoint)
            .with_protocol(protocol)
            .with_timeout(self.timeout)
            .with_headers(self.headers)
            .with_http_client(client)
            .build()
            .map_err(|e| UsageError::Config(format!("the OTLP exporter: {e}")))?;
        let mut resource = Resource::builder();
        if let Some(name) = self.service_name {
            resource = resource.with_service_name(name);
        }
        let provider = SdkLoggerProvider::builder()
            .with_resource(resource.build())
            .with_batch_exporter(exporter)
            .build();
        Ok(OtlpSink::from_provider(provider))
    }
}

fn rustls_config(tls: &agentwrit_core::tls::TlsSetup) -> rustls::ClientConfig {
    rustls::ClientConfig::clone(tls.client_config())
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Sink for OtlpSink {
    fn name(&self) -> &str {
        "otlp"
    }

    fn write(&mut self, records: &[UsageRecord]) -> Result<(), UsageError> {
        for record in records {
            let body = record
                .to_json()
                .map_err(|e| UsageError::sink("otlp", e.to_string()))?;
            let mut log = self.logger.create_log_record();
            log.set_event_name(OTLP_EVENT_NAME);
            log.set_timestamp(record.last_use.unwrap_or(record.issued_at));
            log.set_observed_timestamp(SystemTime::now());
            log.set_severity_number(Severity::Info);
            log.set_severity_text("INFO");
            log.set_body(AnyValue::from(body));
            let denied: u64 = record
                .scopes
                .iter()
                .filter(|s| s.decision == Decision::Denied)
                .map(|s| s.count)
                .sum();
            log.add_attribute("agentwrit.jti", record.jti.clone());
            log.add_attribute("agentwrit.sub", record.sub.clone());
            if let Some(task) = &record.task_id {
                log.add_attribute("agentwrit.task_id", task.clone());
            }
            if let Some(orch) = &record.orch_id {
                log.add_attribute("agentwrit.orch_id", orch.clone());
            }
            log.add_attribute("agentwrit.service", record.service.clone());
            log.add_attribute("agentwrit.requests", i64_of(record.requests));
            log.add_attribute("agentwrit.denied", i64_of(denied));
            log.add_attribute("agentwrit.reason", record.reason.as_str());
            self.logger.emit(log);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), UsageError> {
        self.provider
            .force_flush()
            .map_err(|e| UsageError::sink("otlp", e.to_string()))
    }

    fn shutdown(&mut self) -> Result<(), UsageError> {
        let flushed = self.flush();
        let shut = self
            .provider
            .shutdown()
            .map_err(|e| UsageError::sink("otlp", e.to_string()));
        flushed.and(shut)
    }
}
