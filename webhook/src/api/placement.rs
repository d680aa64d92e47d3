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
//! Only the CPU time of the thread that ran an evaluation counts against the rules, not wall
//! time: a worker that the kernel preempts mid-evaluation, or that its cgroup's CPU limit
//! throttles, has not run a slow rule. Reading a thread's CPU clock is a system call, though,
//! while the wall clock is read in user space; and an evaluation cannot have used more CPU than
//! wall time. So the CPU clock is read when an evaluation starts, and again at its end only when
//! its wall time overran [`INLINE_BUDGET`]: one system call per review instead of two, and the
//! same answer. One evaluation a little over budget is forgiven: on a virtual machine the
//! thread's CPU clock also counts the odd pause of the virtual CPU, and a rule that is really
//! slow is slow again soon.

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

/// The clocks of one evaluation, from [`Timer::start`] to [`Placement::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    wall: Instant,
    /// The thread's CPU time at the start.
    cpu: Duration,
}

impl Timer {
    /// Starts timing an evaluation on this thread.
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: thread_cpu_time(),
        }
    }
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

    /// Ends the evaluation `timer` timed, on the thread that started it. Returns the CPU time it
    /// took when it moves evaluations off the workers (see [`Placement::record`]).
    pub fn finish(&self, timer: Timer) -> Option<Duration> {
        let now = Instant::now();
        if now.saturating_duration_since(timer.wall) <= INLINE_BUDGET {
            // No more CPU than wall time: nothing to hold against the rules.
            return None;
        }
        let took = thread_cpu_time().saturating_sub(timer.cpu);
        self.record(now, took).then_some(took)
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

    /// Burns at least `cpu` of this thread's CPU time.
    fn burn(cpu: Duration) {
        let start = thread_cpu_time();
        while thread_cpu_time().saturating_sub(start) <= cpu {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn cpu_time_not_wall_time_moves_evaluations() {
        let p = Placement::new();
        // Quick.
        assert!(p.finish(Timer::start()).is_none());
        // Long in wall time (this thread was paused, say) but little CPU: forgiven, twice.
        for _ in 0..2 {
            let paused = Timer {
                wall: Instant::now() - SLOW * 4,
                ..Timer::start()
            };
            assert!(p.finish(paused).is_none());
            assert!(p.inline(Instant::now()));
        }
        // An evaluation that burns CPU past SLOW moves evaluations, and says how long it took.
        let timer = Timer::start();
        burn(SLOW + Duration::from_millis(5));
        assert!(p.finish(timer).is_some_and(|took| took > SLOW));
        assert!(!p.inline(Instant::now()));
    }

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
