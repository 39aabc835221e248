//! The crate's one error type.

use std::io;

/// What can go wrong while recording, writing or reading usage records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A file or directory could not be created, written or read.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A sink refused records (e.g. the collector answered an error).
    #[error("usage sink {sink}: {message}")]
    Sink {
        /// The sink (`jsonl`, `otlp`, or a custom sink's name).
        sink: String,
        /// What went wrong.
        message: String,
    },
    /// The recorder was shut down: nothing more is recorded or written.
    #[error("the usage recorder was shut down")]
    Closed,
    /// The writer thread could not be started, or panicked.
    #[error("{0}")]
    Thread(String),
    /// A setting that cannot work (e.g. an OTLP endpoint that is not a
    /// URL).
    #[error("invalid usage configuration: {0}")]
    Config(String),
}

impl UsageError {
    /// An I/O failure while doing `context`.
    #[must_use]
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        UsageError::Io {
            context: context.into(),
            source,
        }
    }

    /// A failure of sink `sink` (for [`Sink`](crate::Sink) implementations).
    ///
    /// ```
    /// let e = agentwrit_usage::UsageError::sink("my-sink", "queue is gone");
    /// assert_eq!(e.to_string(), "usage sink my-sink: queue is gone");
    /// ```
    #[must_use]
    pub fn sink(sink: impl Into<String>, message: impl Into<String>) -> Self {
        UsageError::Sink {
            sink: sink.into(),
            message: message.into(),
        }
    }
}
