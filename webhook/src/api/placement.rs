//! Where an evaluation runs: inline on the runtime's worker thread, or on a blocking thread.
//!
//! A review's rules take tens of microseconds. Handing them to a blocking thread and back costs
//! two thread wake-ups and context switches, more than a tenth of the server's CPU under load,
//! so evaluations run inline on the worker that read the request. That is only right while they
//! stay short: a rule that loops until its deadline (500 ms by default) would hold the worker,
//! and with it every connection the worker serves. So an evaluation that takes longer than
//! [`SLOW`], or a second one within [`STRIKE_WINDOW`] that takes longer than [`INLINE_BUDGET`],
//! moves evaluations to the blocking threads for [`OFFLOAD_FOR`]; inline evaluation resumes once
//! that window has passed. The slow evaluation that trips the switch still finishes normally;
//! its rule's own deadline bounds it.
//!
//! Evaluations are timed in the CPU time of the thread that runs them, not in wall time: a
//! worker that the kernel preempts mid-evaluation on a busy node has not run a slow rule. One
//! evaluation a little over budget is forgiven: on a virtual machine the thread's CPU clock also
//! counts the odd pause of the virtual CPU, and a rule that is really slow is slow again soon.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// Longest evaluation that is never held against the rules. A review's rules take tens of
/// microseconds; on the development VM the thread CPU clock of one now and then reads 3-7 ms.
pub const INLINE_BUDGET: Duration = Duration::from_millis(10);

/// An evaluation this long moves evaluations off the workers at once.
pub const SLOW: Duration = Duration::from_millis(50);

/// Two evaluations over [`INLINE_BUDGET`] this close together move evaluations off the workers.
pub const STRIKE_WINDOW: Duration = Duration::from_secs(10);

/// How long evaluations stay on blocking threads once moved.
pub const OFFLOAD_FOR: Duration = Duration::from_secs(60);

/// CPU time the calling thread has used.
pub fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Decides where the next evaluation runs.
#[derive(Debug)]
pub struct Placement {
    epoch: Instant,
    /// Nanoseconds after `epoch` until which evaluations are offloaded; 0 when never.
    offload_until: AtomicU64,
    /// Nanoseconds after `epoch` (at least 1) when the last evaluation over budget ended; 0 when
    /// none has.
    last_over: AtomicU64,
}

impl Default for Placement {
    fn default() -> Self {
        Self::new()
    }
}

impl Placement {
    /// Inline from the start.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            offload_until: AtomicU64::new(0),
            last_over: AtomicU64::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether an evaluation starting at `now` runs inline.
    pub fn inline(&self, now: Instant) -> bool {
        self.nanos(now) >= self.offload_until.load(Ordering::Relaxed)
    }

    /// Records an evaluation that finished at `now` after `took` of CPU time. Returns `true` when
    /// it moves evaluations off the workers (they were inline, and it was over [`SLOW`] or the
    /// second over [`INLINE_BUDGET`] within [`STRIKE_WINDOW`]).
    pub fn record(&self, now: Instant, took: Duration) -> bool {
        if took <= INLINE_BUDGET {
            return false;
        }
        let at = self.nanos(now).max(1);
        let previous = self.last_over.swap(at, Ordering::Relaxed);
        let window = u64::try_from(STRIKE_WINDOW.as_nanos()).unwrap_or(u64::MAX);
        let again = previous != 0 && at.saturating_sub(previous) <= window;
        if took < SLOW && !again {
            return false;
        }
        let was_inline = self.inline(now);
        self.offload_until
            .fetch_max(self.nanos(now + OFFLOAD_FOR), Ordering::Relaxed);
        was_inline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_evaluation_moves_evaluations_off_the_workers_for_a_while() {
        let p = Placement::new();
        let t0 = Instant::now();
        assert!(p.inline(t0));
        assert!(!p.record(t0, Duration::from_micros(80)));
        assert!(p.inline(t0 + Duration::from_secs(1)));

        let slow_at = t0 + Duration::from_secs(2);
        assert!(p.record(slow_at, SLOW));
        assert!(!p.inline(slow_at));
        assert!(!p.inline(slow_at + OFFLOAD_FOR - Duration::from_millis(1)));
        // Another slow one while offloaded extends the window but is not a new switch.
        let again = slow_at + Duration::from_secs(30);
        assert!(!p.record(again, INLINE_BUDGET * 10));
        assert!(!p.inline(slow_at + OFFLOAD_FOR));
        assert!(p.inline(again + OFFLOAD_FOR));
    }

    #[test]
    fn one_evaluation_a_little_over_budget_is_forgiven_a_second_soon_after_is_not() {
        let p = Placement::new();
        let t0 = Instant::now();
        let over = INLINE_BUDGET + Duration::from_millis(1);
        assert!(!p.record(t0, over));
        assert!(p.inline(t0));
        // The next one comes after the window: forgiven again.
        let later = t0 + STRIKE_WINDOW + Duration::from_secs(1);
        assert!(!p.record(later, over));
        assert!(p.inline(later));
        // A second one inside the window moves evaluations.
        let soon = later + STRIKE_WINDOW / 2;
        assert!(p.record(soon, over));
        assert!(!p.inline(soon));
        assert!(p.inline(soon + OFFLOAD_FOR));
    }
}
