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
//! two per review, while the wall clock is read in user space. So evaluations are timed by the
//! wall clock, which can only overstate CPU time; one that overruns [`INLINE_BUDGET`] in wall
//! time makes the next [`STRIKE_WINDOW`] of evaluations *careful*: those also read the CPU clock,
//! and only what they measure can move evaluations. A rule that is really slow is slow again
//! soon, so a looping rule holds a worker for two evaluations, not one, before the switch. One
//! careful evaluation a little over budget is forgiven: on a virtual machine the thread's CPU
//! clock also counts the odd pause of the virtual CPU.

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

/// The clocks of one evaluation, from [`Placement::start`] to [`Placement::finish`].
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    wall: Instant,
    /// The thread's CPU time at the start, for a careful evaluation.
    cpu: Option<Duration>,
}

impl Timer {
    /// A timer that reads the thread's CPU clock, whatever the placement's state (for
    /// evaluations on blocking threads, where the system calls cost nothing that matters).
    pub fn careful() -> Self {
        Self {
            wall: Instant::now(),
            cpu: Some(thread_cpu_time()),
        }
    }

    /// Whether this evaluation reads the thread's CPU clock.
    pub fn is_careful(&self) -> bool {
        self.cpu.is_some()
    }
}

/// Decides where the next evaluation runs.
#[derive(Debug)]
pub struct Placement {
    epoch: Instant,
    /// Nanoseconds after `epoch` until which evaluations are offloaded; 0 when never.
    offload_until: AtomicU64,
    /// Nanoseconds after `epoch` until which evaluations read the CPU clock; 0 when never.
    careful_until: AtomicU64,
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
            careful_until: AtomicU64::new(0),
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

    /// Starts timing an evaluation on this thread: careful (the CPU clock too) while a recent
    /// evaluation overran its budget in wall time.
    pub fn start(&self) -> Timer {
        self.start_at(Instant::now())
    }

    fn start_at(&self, wall: Instant) -> Timer {
        let careful = self.nanos(wall) < self.careful_until.load(Ordering::Relaxed);
        Timer {
            wall,
            cpu: careful.then(thread_cpu_time),
        }
    }

    /// Ends the evaluation `timer` timed, on the thread that started it. Returns the CPU time it
    /// took when it moves evaluations off the workers (see [`Placement::record`]); an evaluation
    /// over budget in wall time only makes the evaluations of the next [`STRIKE_WINDOW`] careful.
    pub fn finish(&self, timer: Timer) -> Option<Duration> {
        self.finish_at(timer, Instant::now())
    }

    fn finish_at(&self, timer: Timer, now: Instant) -> Option<Duration> {
        if now.saturating_duration_since(timer.wall) <= INLINE_BUDGET {
            return None;
        }
        match timer.cpu {
            Some(cpu) => {
                let took = thread_cpu_time().saturating_sub(cpu);
                self.record(now, took).then_some(took)
            }
            None => {
                self.careful_until
                    .fetch_max(self.nanos(now + STRIKE_WINDOW), Ordering::Relaxed);
                None
            }
        }
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
    fn wall_time_over_budget_makes_evaluations_careful_and_only_cpu_time_moves_them() {
        let p = Placement::new();
        // Quick: neither careful nor moved.
        let quick = p.start();
        assert!(!quick.is_careful());
        assert!(p.finish(quick).is_none());
        assert!(!p.start().is_careful());
        // Over budget in wall time (a long pause of this thread): careful for a while, still
        // inline, whatever the wall time was.
        let paused = Timer {
            wall: Instant::now() - SLOW * 4,
            cpu: None,
        };
        assert!(p.finish(paused).is_none());
        assert!(p.inline(Instant::now()));
        let careful = p.start();
        assert!(careful.is_careful());
        // A careful evaluation that was paused but used little CPU: forgiven, still inline.
        let paused = Timer {
            wall: Instant::now() - SLOW * 4,
            ..careful
        };
        assert!(p.finish(paused).is_none());
        assert!(p.inline(Instant::now()));
        // One that burns CPU past SLOW moves evaluations.
        let burn = p.start();
        assert!(burn.is_careful());
        let spin = Instant::now();
        while spin.elapsed() <= SLOW + Duration::from_millis(5) {
            std::hint::spin_loop();
        }
        assert!(p.finish(burn).is_some_and(|took| took > SLOW));
        assert!(!p.inline(Instant::now()));
    }

    #[test]
    fn evaluations_are_careful_for_a_strike_window_after_a_wall_time_overrun() {
        let p = Placement::new();
        let t0 = Instant::now();
        let overrun = Timer {
            wall: t0,
            cpu: None,
        };
        assert!(
            p.finish_at(overrun, t0 + INLINE_BUDGET + Duration::from_millis(1))
                .is_none()
        );
        let end = t0 + INLINE_BUDGET + STRIKE_WINDOW;
        assert!(p.start_at(end).is_careful());
        assert!(!p.start_at(end + Duration::from_millis(2)).is_careful());
        // Exactly at the budget is not an overrun.
        let q = Placement::new();
        assert!(q.finish_at(overrun, t0 + INLINE_BUDGET).is_none());
        assert!(!q.start_at(t0 + INLINE_BUDGET).is_careful());
    }

    #[test]
    fn careful_timers_always_read_the_cpu_clock() {
        let t = Timer::careful();
        assert!(t.is_careful());
        let p = Placement::new();
        assert!(p.finish(t).is_none());
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
