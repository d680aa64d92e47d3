//! The calibration figure every benchmark of ws3 prints: the time of a fixed native workload
//! (200M xorshift rounds on one thread), so that runs on different machines, or on one machine
//! at different moments, can be compared. Shared by the lint bench and the webhook's benches.
#![allow(dead_code)]

use std::time::{Duration, Instant};

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
