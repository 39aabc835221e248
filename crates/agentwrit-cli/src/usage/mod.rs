//! `agentwrit usage report`: scope-usage evidence (granted vs used vs
//! denied, per task and per task kind) from the records services wrote,
//! optionally joined with the broker's audit trail. The reading, merging
//! and recommending are `agentwrit-usage`'s; this module parses the
//! arguments, fetches the audit trail and formats.

mod html;
mod text;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentwrit_async::wire::{AuditQuery, Timestamp};
use agentwrit_usage::{KindRule, Reader, Report, ReportBuilder, ReportOptions};
use clap::{Args, Subcommand, ValueEnum};

use crate::connect;
use crate::error::{CliError, code};
use crate::output::Out;

/// The variable naming the default record directory.
pub const ENV_USAGE_DIR: &str = "AGENTWRIT_USAGE_DIR";

/// `agentwrit usage`.
#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// What each task was granted against what it used and was denied,
    /// per task and per orchestrator and task kind, with the recommended
    /// minimal scope set.
    Report(ReportArgs),
}

/// How a task id becomes a task kind.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindBy {
    /// Parts of the task id holding a digit become `*` (`order-4823` →
    /// `order-*`).
    Segments,
    /// The task id itself.
    Task,
}

/// The output format (`--json` is the third).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for a terminal.
    Text,
    /// One self-contained HTML page with a chart.
    Html,
}

/// `agentwrit usage report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Record files or directories (JSON Lines as services write them, or
    /// a collector's OTLP JSON file export); default: AGENTWRIT_USAGE_DIR.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Only activity since this instant (RFC 3339) or this long ago
    /// (`24h`, `90m`, `7d` is `168h`).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Join the broker's audit trail (issued, renewed, delegated,
    /// released, revoked): needs AGENTWRIT_BROKER_URL and
    /// AGENTWRIT_ADMIN_SECRET.
    #[arg(long)]
    pub broker: bool,
    /// How task ids are grouped into task kinds.
    #[arg(long, value_enum, default_value = "segments")]
    pub kind_by: KindBy,
    /// Text tables, or one HTML page (`--json` for JSON).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, CliError> {
    if let Ok(t) = Timestamp::parse(text) {
        let nanos = t.unix_nanos();
        let at = u64::try_from(nanos)
            .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
            .unwrap_or(UNIX_EPOCH);
        return Ok(at);
    }
    let ago = crate::cli::parse_duration(text).map_err(|_| {
        CliError::Usage(format!(
            "--since {text:?}: neither an RFC 3339 instant (2026-12-05T09:00:00Z) nor a duration (24h, 90m)"
        ))
    })?;
    Ok(now.checked_sub(ago).unwrap_or(UNIX_EPOCH))
}

/// `agentwrit usage report`. Exit 0, or 6 when some lines could not be
/// read (named on stderr; the report covers everything else).
pub async fn report(command: &UsageCommand, out: &Out) -> Result<u8, CliError> {
    let UsageCommand::Report(args) = command;
    if out.json && args.format == Format::Html {
        return Err(CliError::Usage(
            "--json and --format html exclude each other".into(),
        ));
    }
    let now = SystemTime::now();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()?;
    let mut paths = args.paths.clone();
    if paths.is_empty() {
        match std::env::var_os(ENV_USAGE_DIR).filter(|v| !v.is_empty()) {
            Some(dir) => paths.push(PathBuf::from(dir)),
            None => {
                return Err(CliError::Usage(format!(
                    "give record files or directories, or set {ENV_USAGE_DIR}"
                )));
            }
        }
    }
    let options = ReportOptions::new(now)
        .with_since(since)
        .with_kind_rule(match args.kind_by {
            KindBy::Segments => KindRule::Segments,
            KindBy::Task => KindRule::Task,
        });
    let (mut builder, reader) = read_all(&paths, ReportBuilder::new(options))?;
    if args.broker {
        let operator = connect::operator_from_env()?;
        let mut query = AuditQuery::new();
        query.since = since.map(|t| {
            let nanos = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            Timestamp::from_unix_nanos(i128::try_from(nanos).unwrap_or(i128::MAX))
        });
        query.limit = Some(1000);
        let events = operator.audit_events_all(query).await?;
        builder.join_audit(&events);
    }
    let report = builder.finish(&reader);
    for error in &report.inputs.errors {
        let doc = serde_json::json!({"skipped": {
            "file": error.file, "line": error.line, "message": error.message,
            "text": error.to_string(),
        }});
        crate::output::notice(out.json, &doc, &format!("skipped {error}"));
    }
    if out.json {
        // Streamed: a fleet's report is large.
        write_json(&report, args.output.as_deref())?;
        return Ok(exit_code(&report));
    }
    let rendered = match args.format {
        Format::Text => text::render(&report),
        Format::Html => html::render(&report),
    };
    match &args.output {
        Some(path) => std::fs::write(path, rendered)
            .map_err(|e| CliError::io(format!("writing {}", path.display()), e))?,
        None => out.print(&rendered),
    }
    Ok(exit_code(&report))
}

/// Reads every path into `builder`: parsing on one thread, merging on
/// this one, records passed in batches (two cores halve a fleet's
/// report time).
fn read_all(
    paths: &[PathBuf],
    mut builder: ReportBuilder,
) -> Result<(ReportBuilder, Reader), CliError> {
    const BATCH: usize = 1024;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<agentwrit_usage::UsageRecord>>(64);
    std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let mut reader = Reader::new();
            let mut batch = Vec::with_capacity(BATCH);
            for path in paths {
                reader.read_path(path, |record| {
                    batch.push(record);
                    if batch.len() == BATCH {
                        let _ = tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                    }
                })?;
            }
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok::<Reader, agentwrit_usage::UsageError>(reader)
        });
        for batch in rx {
            for record in batch {
                builder.add(record);
            }
        }
        match parser.join() {
            Ok(Ok(reader)) => Ok((builder, reader)),
            Ok(Err(e)) => Err(CliError::Usage(e.to_string())),
            Err(_) => Err(CliError::Usage("reading the records failed".into())),
        }
    })
}

/// The report as pretty JSON to `path`, or to standard output (a closed
/// pipe ends the output quietly).
fn write_json(report: &Report, path: Option<&std::path::Path>) -> Result<(), CliError> {
    use std::io::Write as _;
    let json_error =
        |e: serde_json::Error| CliError::Usage(format!("cannot write the report as JSON: {e}"));
    match path {
        Some(path) => {
            let io = |e| CliError::io(format!("writing {}", path.display()), e);
            let file = std::fs::File::create(path).map_err(io)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            serde_json::to_writer_pretty(&mut w, report).map_err(json_error)?;
            w.write_all(b"\n").and_then(|()| w.flush()).map_err(io)
        }
        None => {
            let stdout = std::io::stdout().lock();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, stdout);
            if serde_json::to_writer_pretty(&mut w, report).is_ok() {
                let _ = w.write_all(b"\n").and_then(|()| w.flush());
            }
            Ok(())
        }
    }
}

fn exit_code(report: &Report) -> u8 {
    if report.inputs.errors.is_empty() {
        code::OK
    } else {
        code::LOCAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_an_instant_or_a_duration() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            parse_since("24h", now).unwrap(),
            now - Duration::from_secs(86_400)
        );
        assert_eq!(
            parse_since("2026-12-05T00:00:00Z", now).unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_796_428_800)
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
