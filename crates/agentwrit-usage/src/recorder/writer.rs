//! The writer thread: hands finished records to the sinks, sweeps
//! expired tokens, answers flush and shutdown.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::{Core, Msg, lock};
use crate::time::to_millis;
use crate::{Sink, UsageError, UsageRecord};

/// The writer thread: writes what arrives, sweeps expired tokens every
/// sweep interval, answers flush and shutdown requests.
pub(super) fn writer_loop(core: &Core, mut sinks: Vec<Box<dyn Sink>>, rx: &Receiver<Msg>) {
    let interval = Duration::from_millis(u64::try_from(core.sweep_ms).unwrap_or(u64::MAX));
    let mut failure: Option<UsageError> = None;
    // Records written since the sinks were last flushed.
    let mut unflushed = false;
    let write = |sinks: &mut Vec<Box<dyn Sink>>,
                 records: &[UsageRecord],
                 failure: &mut Option<UsageError>| {
        if records.is_empty() {
            return;
        }
        let mut ok = true;
        for sink in sinks.iter_mut() {
            if let Err(e) = sink.write(records) {
                ok = false;
                core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
        }
        let n = records.len() as u64;
        if ok {
            core.counters
                .records_written
                .fetch_add(n, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            core.metrics.records_written.increment(n);
        } else {
            core.counters
                .records_dropped
                .fetch_add(n, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            core.metrics.records_dropped.increment(n);
        }
    };
    loop {
        match rx.recv_timeout(interval) {
            Ok(Msg::Records(records)) => {
                unflushed |= !records.is_empty();
                write(&mut sinks, &records, &mut failure);
            }
            Ok(Msg::Flush(reply)) => {
                unflushed = false;
                for sink in &mut sinks {
                    if let Err(e) = sink.flush() {
                        core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
                let _ = reply.send(failure.take().map_or(Ok(()), Err));
            }
            Ok(Msg::Shutdown(reply)) => {
                for sink in &mut sinks {
                    if let Err(e) = sink.shutdown() {
                        core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                }
                let _ = reply.send(failure.take().map_or(Ok(()), Err));
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = to_millis((core.clock)());
                let mut records = Vec::new();
                for shard in &core.shards {
                    let mut shard = lock(shard);
                    shard.next_sweep_ms = now.saturating_add(core.sweep_ms);
                    records.extend(core.sweep(&mut shard, now));
                }
                core.counters
                    .records_emitted
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                unflushed |= !records.is_empty();
                write(&mut sinks, &records, &mut failure);
                if unflushed {
                    unflushed = false;
                    for sink in &mut sinks {
                        if let Err(e) = sink.flush() {
                            core.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                            failure.get_or_insert(e);
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                for sink in &mut sinks {
                    let _ = sink.shutdown();
                }
                return;
            }
        }
    }
}
