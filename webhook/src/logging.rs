//! Structured logs: JSON lines on stdout, written by a `tracing-appender` worker thread.
//!
//! The webhook logs one line per decision. Writing each line to stdout as it is made would cost
//! the tokio worker that answered the review a system call (and a stdout pipe that the container
//! runtime drains slowly would stall reviews). So the lines go through `tracing-appender`'s
//! non-blocking writer to a `ws3-log` thread, which writes them out. It is not lossy: nothing
//! is dropped and the order is kept; while [`MAX_LINES`] lines wait for the thread (stdout is
//! blocked), a thread that logs waits too.
//!
//! The thread writes what has queued up in one system call, then pauses until [`FLUSH_EVERY`]
//! has passed since its previous write ([`Paced`]): lines logged meanwhile wait in the channel,
//! and the loggers do not wake the thread line by line. The first line after a quiet spell is
//! written at once. The [`WorkerGuard`] that [`init`] returns writes out what is left when it
//! is dropped, at the end of `main`.

use std::{
    io::{self, BufWriter, Write},
    time::{Duration, Instant},
};

use tracing_appender::non_blocking::NonBlockingBuilder;
pub use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// Shortest time between two writes of the log thread.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Lines that may wait for the log thread before a thread that logs waits too.
pub const MAX_LINES: usize = 8192;
/// Bytes the log thread gathers before it writes, whatever the time.
const BUFFER: usize = 64 << 10;

/// Installs the process's subscriber ([`subscriber`] over stdout, through [`non_blocking`]).
/// Keep the guard until the process ends.
pub fn init(directives: &str) -> WorkerGuard {
    let (writer, guard) = non_blocking(io::stdout());
    tracing::subscriber::set_global_default(subscriber(directives, writer)).ok();
    guard
}

/// A non-lossy non-blocking writer over `out`, written by a `ws3-log` thread at most every
/// [`FLUSH_EVERY`]; dropping the guard writes out the lines logged before.
pub fn non_blocking<W: Write + Send + 'static>(out: W) -> (NonBlocking, WorkerGuard) {
    non_blocking_with(out, FLUSH_EVERY, MAX_LINES)
}

/// [`non_blocking`] with another pace and queue length.
pub fn non_blocking_with<W: Write + Send + 'static>(
    out: W,
    every: Duration,
    max_lines: usize,
) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(max_lines.max(1))
        .thread_name("ws3-log")
        .finish(Paced::new(out, every))
}

/// The webhook's subscriber: JSON lines, one event per line with its fields at the top level,
/// filtered by `directives` (`RUST_LOG` syntax; `info` when they do not parse).
pub fn subscriber<W>(directives: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// The log thread's output: buffers the lines of a batch, writes them at the batch's end
/// (`tracing-appender` flushes once it has drained its channel), then waits out the rest of
/// `every` since its previous write, so that lines queue up for the next batch meanwhile.
#[derive(Debug)]
pub struct Paced<W: Write> {
    out: BufWriter<W>,
    every: Duration,
    last: Option<Instant>,
}

impl<W: Write> Paced<W> {
    /// Writes to `out` at most every `every`.
    pub fn new(out: W, every: Duration) -> Self {
        Self {
            out: BufWriter::with_capacity(BUFFER, out),
            every,
            last: None,
        }
    }
}

impl<W: Write> Write for Paced<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.out.write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        // The lines go out before any pause: once a batch is flushed, it is written.
        let flushed = self.out.flush();
        if let Some(left) = self
            .last
            .and_then(|last| self.every.checked_sub(last.elapsed()))
        {
            std::thread::sleep(left);
        }
        self.last = Some(Instant::now());
        flushed
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink the test can read, optionally slow.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        delay: Duration,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            self.bytes.lock().unwrap().extend_from_slice(b);
            *self.writes.lock().unwrap() += 1;
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Logs one line in one write, as the JSON formatter does.
    fn line(writer: &NonBlocking, text: &str) {
        writer
            .make_writer()
            .write_all(format!("{text}\n").as_bytes())
            .unwrap();
    }

    fn lines(sink: &Sink) -> Vec<String> {
        String::from_utf8(sink.bytes.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn from_threads(writer: &NonBlocking, threads: usize, each: usize) {
        let threads: Vec<_> = (0..threads)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..each {
                        line(&writer, &format!("{t} {i:05}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    fn assert_all_in_order(lines: &[String], threads: usize, each: usize) {
        assert_eq!(lines.len(), threads * each);
        for t in 0..threads {
            let mine: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("{t} ")))
                .collect();
            assert_eq!(mine.len(), each, "thread {t}");
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "thread {t} out of order"
            );
        }
    }

    #[test]
    fn every_line_arrives_in_order_in_few_writes_and_the_guard_flushes() {
        let sink = Sink::default();
        let (writer, guard) = non_blocking_with(sink.clone(), Duration::from_secs(1), 1 << 16);
        from_threads(&writer, 4, 1000);
        drop(guard);
        assert_all_in_order(&lines(&sink), 4, 1000);
        // Paced: the first batch at once, the rest after the pause (one write per 64 KiB).
        let writes = *sink.writes.lock().unwrap();
        assert!(writes <= 4, "{writes} writes");
    }

    #[test]
    fn lines_are_written_without_the_guard() {
        let sink = Sink::default();
        let (writer, _guard) = non_blocking(sink.clone());
        line(&writer, "one");
        let start = Instant::now();
        while sink.bytes.lock().unwrap().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(lines(&sink), ["one"]);
    }

    #[test]
    fn a_slow_output_holds_back_the_loggers_and_loses_nothing() {
        let sink = Sink {
            delay: Duration::from_millis(2),
            ..Sink::default()
        };
        // A tiny queue: loggers wait for the log thread again and again.
        let (writer, guard) = non_blocking_with(sink.clone(), Duration::from_millis(1), 4);
        from_threads(&writer, 3, 300);
        drop(guard);
        assert_all_in_order(&lines(&sink), 3, 300);
    }
}
