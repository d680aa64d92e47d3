//! What every benchmark of ws3 measures the same way, shared by the lint bench and the webhook's
//! benches: the calibration figure (the time of a fixed native workload, 200M xorshift rounds on
//! one thread, so that runs on different machines, or on one machine at different moments, can
//! be compared) and a process's figures from `/proc` (RSS, CPU time, file descriptors).
#![allow(dead_code)]

use std::{
    fmt::Display,
    time::{Duration, Instant},
};

/// Rounds of the fixed workload.
pub const ROUNDS: u64 = 200_000_000;

/// `rounds` rounds of xorshift: a CPU-bound loop the optimizer cannot remove or vectorize.
pub fn spin(rounds: u64) -> u64 {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_add(i);
    }
    x
}

/// The time of [`ROUNDS`] rounds on the calling thread.
pub fn calibration() -> Duration {
    let t = Instant::now();
    std::hint::black_box(spin(std::hint::black_box(ROUNDS)));
    t.elapsed()
}

/// A `/proc/<pid>/status` figure in KiB (`"VmRSS:"`, `"VmHWM:"` for the peak) of a process
/// (`"self"` or a pid); 0 when the process is gone.
pub fn status_kib(pid: impl Display, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process (`"self"` or a pid), all its threads; zero when gone.
pub fn cpu_time(pid: impl Display) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // The kernel reports clock ticks of USER_HZ, 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Open file descriptors of a process (`"self"` or a pid).
pub fn fds(pid: impl Display) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// Runs `command` to its end and returns its exit status, its wall-clock time and its peak
/// resident set size in KiB (the kernel's own figure for that process, from `wait4`).
///
/// The kernel's figure includes the memory of the process it was spawned from, before `exec`
/// (std spawns with `vfork`, in the parent's memory): call this from a small process, e.g. the
/// bench re-executed as a launcher, not from a bench holding hundreds of MiB.
pub fn run_measured(
    command: &mut std::process::Command,
) -> std::io::Result<(std::process::ExitStatus, Duration, u64)> {
    use std::os::unix::process::ExitStatusExt;
    let started = Instant::now();
    let child = command.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    #[allow(unsafe_code)]
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for (the `Child` is never waited on, so it is
    // reaped exactly once, here), and both pointers are to live, writable locals.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let elapsed = started.elapsed();
    if rc != pid {
        return Err(std::io::Error::last_os_error());
    }
    // On Linux `ru_maxrss` is in KiB.
    let peak = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((std::process::ExitStatus::from_raw(status), elapsed, peak))
}
