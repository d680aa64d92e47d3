//! Structured logs: JSON lines on stdout, written in batches by a background thread.
//!
//! The webhook logs one line per decision. Writing each line to stdout as it is made costs the
//! tokio worker that answered the review a system call (and a stdout pipe that the container
//! runtime drains slowly would stall reviews). Lines are appended to a buffer instead, and a
//! `ws3-log` thread writes the buffer out every [`FLUSH_EVERY`], or as soon as it holds
//! [`FLUSH_AT`] bytes. Nothing is dropped and the order is kept: only that thread writes, and
//! while [`MAX_BUFFERED`] bytes wait for it (stdout is blocked), a thread that logs waits too.
//! [`LogGuard`] writes out what is left when it is dropped, at the end of `main`.

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// Longest a line waits in the buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Buffered bytes that start a write at once.
pub const FLUSH_AT: usize = 32 << 10;
/// Buffered bytes past which a thread that logs waits for the writer.
pub const MAX_BUFFERED: usize = 4 << 20;

/// Installs the process's subscriber ([`subscriber`] over stdout, in batches). Keep the guard
/// until the process ends.
pub fn init(directives: &str) -> LogGuard {
    let (writer, guard) = Batched::spawn(io::stdout(), FLUSH_EVERY, FLUSH_AT, MAX_BUFFERED);
    tracing::subscriber::set_global_default(subscriber(directives, writer)).ok();
    guard
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

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    /// The guard was dropped: the writer thread writes what is left and stops.
    stopping: bool,
    /// The writer thread has stopped (or never started): lines are written by the thread that
    /// makes them.
    closed: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The buffered bytes are log lines: their length, not their text.
        f.debug_struct("State")
            .field("buffered", &self.buf.len())
            .field("stopping", &self.stopping)
            .field("closed", &self.closed)
            .finish()
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread (a full buffer, or closing).
    full: Condvar,
    /// Wakes threads waiting for room in the buffer.
    drained: Condvar,
    max_buffered: usize,
    flush_at: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The output, shared by the writer thread and, once it has stopped, the threads that log.
type Output = Arc<Mutex<Box<dyn Write + Send>>>;

/// A [`MakeWriter`] that appends each event to the shared buffer.
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
    out: Output,
}

impl std::fmt::Debug for Batched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batched")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Batched {
    /// Starts the writer thread over `out`: it writes every `every`, or once `flush_at` bytes
    /// wait; loggers wait while `max_buffered` bytes do.
    pub fn spawn<W: Write + Send + 'static>(
        out: W,
        every: Duration,
        flush_at: usize,
        max_buffered: usize,
    ) -> (Self, LogGuard) {
        let every = every.max(Duration::from_millis(1));
        let flush_at = flush_at.max(1);
        let shared = Arc::new(Shared {
            flush_at,
            max_buffered: max_buffered.max(flush_at),
            ..Shared::default()
        });
        let out: Output = Arc::new(Mutex::new(Box::new(out)));
        let thread = {
            let shared = Arc::clone(&shared);
            let out = Arc::clone(&out);
            std::thread::Builder::new()
                .name("ws3-log".into())
                .spawn(move || write_out(&shared, &out, every))
                .ok()
        };
        if thread.is_none() {
            // No thread: every line is written as it is made.
            shared.lock().closed = true;
        }
        let writer = Self {
            shared: Arc::clone(&shared),
            out,
        };
        (writer, LogGuard { shared, thread })
    }

    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.shared.lock();
        while !state.closed && state.buf.len() >= self.shared.max_buffered {
            self.shared.full.notify_one();
            state = self
                .shared
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            // The state stays locked while writing, so lines stay in order. (Lock order: state,
            // then output; the writer thread never holds both.)
            let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
            out.write_all(bytes)?;
            return out.flush();
        }
        state.buf.extend_from_slice(bytes);
        if state.buf.len() >= self.shared.flush_at {
            self.shared.full.notify_one();
        }
        Ok(())
    }
}

/// The writer thread: takes the buffer when it is full or when [`FLUSH_EVERY`] has passed.
/// When stopping (or should it unwind), [`Exit`] writes what is left and closes the buffer.
fn write_out(shared: &Shared, out: &Output, every: Duration) {
    let _exit = Exit { shared, out };
    let mut spare = Vec::new();
    loop {
        let mut state = shared.lock();
        let deadline = Instant::now().checked_add(every);
        while state.buf.len() < shared.flush_at && !state.stopping {
            let left = deadline.map_or(every, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                break;
            }
            state = shared
                .full
                .wait_timeout(state, left)
                .map(|(state, _)| state)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        if state.stopping {
            return;
        }
        // The buffers trade places, so neither is allocated again.
        std::mem::swap(&mut state.buf, &mut spare);
        drop(state);
        shared.drained.notify_all();
        if !spare.is_empty() {
            let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
            // Nowhere to report a failed write to: the lines are lost with stdout.
            let _ = out.write_all(&spare);
            let _ = out.flush();
            spare.clear();
        }
    }
}

/// Ends the writer thread: writes what is buffered and marks the buffer closed, both with the
/// state locked (then the output: the loggers' lock order), so that the lines written directly
/// from then on come after these.
struct Exit<'a> {
    shared: &'a Shared,
    out: &'a Output,
}

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        if !state.buf.is_empty() {
            let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = out.write_all(&state.buf);
            let _ = out.flush();
            state.buf = Vec::new();
        }
        drop(state);
        self.shared.drained.notify_all();
    }
}

/// One event's bytes, appended in one piece.
#[derive(Debug)]
pub struct Line<'a>(&'a Batched);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.append(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self)
    }
}

/// Writes out the buffered lines and stops the writer thread when dropped; lines logged after
/// that are written at once.
#[derive(Debug)]
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.full.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read, optionally slow.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<Mutex<usize>>,
        largest_write: Arc<Mutex<usize>>,
        delay: Duration,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            std::thread::sleep(self.delay);
            self.bytes.lock().unwrap().extend_from_slice(b);
            *self.writes.lock().unwrap() += 1;
            let mut largest = self.largest_write.lock().unwrap();
            *largest = (*largest).max(b.len());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Logs one line in one write, as the JSON formatter does.
    fn line(writer: &Batched, text: &str) {
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

    #[test]
    fn every_line_arrives_in_order_in_few_writes() {
        let sink = Sink::default();
        let (writer, guard) =
            Batched::spawn(sink.clone(), Duration::from_secs(60), 1 << 20, 8 << 20);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        line(&writer, &format!("{t} {i}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Nothing is written before the buffer fills, the time passes, or the guard goes.
        assert!(sink.bytes.lock().unwrap().is_empty());
        drop(guard);
        let lines = lines(&sink);
        assert_eq!(lines.len(), 4000);
        for t in 0..4 {
            let mine: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|i| i.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..1000).collect::<Vec<_>>(), "thread {t}");
        }
        assert_eq!(*sink.writes.lock().unwrap(), 1);
        // After the guard, lines are written at once.
        line(&writer, "late");
        assert_eq!(self::lines(&sink).last().unwrap(), "late");
    }

    #[test]
    fn lines_are_written_within_the_interval_without_the_guard() {
        let sink = Sink::default();
        let (writer, _guard) =
            Batched::spawn(sink.clone(), Duration::from_millis(20), 1 << 20, 8 << 20);
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
        // A tiny buffer: loggers wait for the writer thread again and again.
        let (writer, guard) = Batched::spawn(sink.clone(), Duration::from_millis(1), 64, 256);
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..200 {
                        line(&writer, &format!("{t} {i:04}"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let lines = lines(&sink);
        assert_eq!(lines.len(), 600);
        for t in 0..3 {
            let mine: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("{t} ")))
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "thread {t} out of order"
            );
            assert_eq!(mine.len(), 200);
        }
        assert!(*sink.writes.lock().unwrap() > 1);
        // Loggers waited: no batch held much more than the limit (one line of 7 bytes past it).
        assert!(*sink.largest_write.lock().unwrap() <= 256 + 7);
    }

    #[test]
    fn lines_logged_while_the_guard_goes_are_all_written_in_order() {
        let sink = Sink::default();
        let (writer, guard) = Batched::spawn(sink.clone(), Duration::from_millis(1), 64, 1024);
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        line(&writer, &format!("{t} {i:04}"));
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2));
        drop(guard);
        for t in threads {
            t.join().unwrap();
        }
        let lines = lines(&sink);
        assert_eq!(lines.len(), 6000);
        for t in 0..3 {
            let mine: Vec<&String> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("{t} ")))
                .collect();
            assert_eq!(mine.len(), 2000);
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "thread {t} out of order"
            );
        }
    }
}
