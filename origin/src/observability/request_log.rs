//! Keeping one request's log lines together: all written or all dropped.
//!
//! Whether a request's lines are kept is only known when it ends (an error or a slow answer is
//! always kept). Lines logged while it runs are therefore held in memory, attached to the request
//! through a task-local, unless its id is already in the sampled share. When the request ends,
//! `release` writes what was held (followed by the request line) and `discard` drops it.
//!
//! `RequestLogWriter` is the `tracing-subscriber` writer that does the holding; lines logged
//! outside any request (start-up, background tasks) go straight to the sink.

use std::{
    future::Future,
    io::{self, Write},
    sync::{Arc, Mutex, PoisonError},
};

use tracing_subscriber::fmt::MakeWriter;

/// The most bytes held for one request; a handler that logs more loses the excess (counted in
/// `origin_log_held_bytes_dropped_total`) rather than growing without bound.
pub const MAX_HELD_BYTES: usize = 64 * 1024;

tokio::task_local! {
    static CURRENT: Arc<RequestLog>;
}

/// Where log lines finally go.
#[derive(Debug, Clone, Default)]
pub enum LogSink {
    #[default]
    Stdout,
    /// An in-memory buffer (tests and benchmarks read what was written).
    Memory(Arc<Mutex<Vec<u8>>>),
}

impl LogSink {
    /// A fresh in-memory sink.
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// Everything written to an in-memory sink so far (empty for stdout).
    pub fn contents(&self) -> String {
        match self {
            Self::Stdout => String::new(),
            Self::Memory(buffer) => {
                let buffer = buffer.lock().unwrap_or_else(PoisonError::into_inner);
                String::from_utf8_lossy(&buffer).into_owned()
            }
        }
    }

    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout => io::stdout().lock().write_all(bytes),
            Self::Memory(buffer) => {
                buffer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// The log lines of one request.
#[derive(Debug)]
pub struct RequestLog {
    lines: Mutex<Lines>,
    sampled: bool,
}

#[derive(Debug)]
enum Lines {
    /// Written as they come.
    Pass,
    /// Held until the request ends; `sink` is where they will go if kept.
    Hold {
        held: Vec<u8>,
        sink: Option<LogSink>,
    },
}

impl RequestLog {
    /// A request whose id is (`sampled`) or is not in the sampled share: the former's lines are
    /// written straight away, the latter's are held.
    pub fn new(sampled: bool) -> Arc<Self> {
        let lines = if sampled {
            Lines::Pass
        } else {
            Lines::Hold {
                held: Vec::new(),
                sink: None,
            }
        };
        Arc::new(Self {
            lines: Mutex::new(lines),
            sampled,
        })
    }

    /// Whether the request's id is in the sampled share.
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// Runs `future` with its log lines attached to this request.
    pub async fn scope<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(Arc::clone(self), future).await
    }

    /// Writes the held lines and lets later ones through.
    pub fn release(&self) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if let Lines::Hold {
            held,
            sink: Some(sink),
        } = std::mem::replace(&mut *lines, Lines::Pass)
        {
            let _ = sink.write_all(&held);
        }
    }

    /// Drops the held lines.
    pub fn discard(&self) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if let Lines::Hold { held, .. } = &mut *lines {
            held.clear();
        }
    }

    fn write(&self, bytes: &[u8], sink: &LogSink) -> io::Result<()> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *lines {
            Lines::Pass => sink.write_all(bytes),
            Lines::Hold { held, sink: target } => {
                if held.len() + bytes.len() > MAX_HELD_BYTES {
                    metrics::counter!(super::recorder::names::LOG_HELD_BYTES_DROPPED)
                        .increment(bytes.len() as u64);
                } else {
                    held.extend_from_slice(bytes);
                    target.get_or_insert_with(|| sink.clone());
                }
                Ok(())
            }
        }
    }
}

/// The `tracing-subscriber` writer: holds lines of undecided requests, writes the rest.
#[derive(Debug, Clone, Default)]
pub struct RequestLogWriter {
    sink: LogSink,
}

impl RequestLogWriter {
    pub fn new(sink: LogSink) -> Self {
        Self { sink }
    }
}

/// Writes one formatted event.
#[derive(Debug)]
pub struct EventWriter {
    sink: LogSink,
    request: Option<Arc<RequestLog>>,
}

impl<'a> MakeWriter<'a> for RequestLogWriter {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            sink: self.sink.clone(),
            request: CURRENT.try_with(Arc::clone).ok(),
        }
    }
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &self.request {
            Some(request) => request.write(bytes, &self.sink)?,
            None => self.sink.write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_line(sink: &LogSink, line: &str) {
        let writer = RequestLogWriter::new(sink.clone());
        writer
            .make_writer()
            .write_all(line.as_bytes())
            .expect("write");
    }

    #[tokio::test]
    async fn lines_of_an_unsampled_request_wait_for_the_decision() {
        let sink = LogSink::memory();
        let kept = RequestLog::new(false);
        kept.scope(async { write_line(&sink, "kept 1\n") }).await;
        kept.scope(async { write_line(&sink, "kept 2\n") }).await;
        let dropped = RequestLog::new(false);
        dropped
            .scope(async { write_line(&sink, "dropped\n") })
            .await;
        assert_eq!(sink.contents(), "");
        dropped.discard();
        kept.release();
        write_line(&sink, "after\n");
        assert_eq!(sink.contents(), "kept 1\nkept 2\nafter\n");
    }

    #[tokio::test]
    async fn lines_of_a_sampled_request_and_outside_requests_pass_at_once() {
        let sink = LogSink::memory();
        let sampled = RequestLog::new(true);
        sampled.scope(async { write_line(&sink, "in\n") }).await;
        write_line(&sink, "outside\n");
        assert_eq!(sink.contents(), "in\noutside\n");
    }

    #[tokio::test]
    async fn a_request_never_holds_more_than_the_cap() {
        let sink = LogSink::memory();
        let log = RequestLog::new(false);
        let line = format!("{}\n", "x".repeat(1023));
        log.scope(async {
            for _ in 0..(MAX_HELD_BYTES / 1024 + 10) {
                write_line(&sink, &line);
            }
        })
        .await;
        log.release();
        assert_eq!(sink.contents().len(), MAX_HELD_BYTES);
    }
}
