//! The guest's memory allocator: a bump arena that lives in the module's initial memory, in
//! front of the standard allocator.
//!
//! A rule instance is short-lived: at admission the host starts a fresh one for every review and
//! throws it away afterwards. A general-purpose allocator is wasted on it, and worse, Rust's
//! standard allocator on `wasm32` takes every byte it hands out from `memory.grow`, so each
//! evaluation grows the linear memory. Growing costs the host a virtual-memory change on the way
//! in and another one when the memory is recycled, and the host must bounds-check memories that
//! can grow that cheaply. An arena inside the initial memory (it is zero-initialised, so it
//! costs nothing in the module's image) serves an evaluation without growing memory at all.
//!
//! Allocation bumps a cursor. Freeing the most recent allocation, or growing it, works in place
//! (the common `Vec`/`String` pattern); other frees are counted, and once nothing allocated from
//! the arena is alive the cursor goes back to the start, so an instance the linter reuses for
//! many objects keeps using the arena. Requests the arena cannot hold go to the standard
//! allocator; a rule never fails because of the arena.
//!
//! The arena assumes one thread, as `wasm32-unknown-unknown` has: its bump is a load and then a
//! store, which two threads could interleave and hand out the same block twice. That is why the
//! type is private to this crate and only ever instantiated as the global allocator of a
//! `wasm32` module (with the default `arena` feature; a rule crate that brings its own global
//! allocator turns that feature off), and in this module's single-threaded unit tests.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::UnsafeCell,
    ptr,
    sync::atomic::{AtomicUsize, Ordering::Relaxed},
};

/// Bytes of the arena installed in rule modules. Reviewing a typical workload allocates a few
/// tens of KiB; a larger object spills over to the standard allocator. The host resets every
/// page of the initial memory after each evaluation, so the arena is not made larger than it
/// needs to be.
#[cfg(target_arch = "wasm32")]
pub(crate) const ARENA_BYTES: usize = 512 << 10;

/// A bump arena of `N` bytes in front of [`System`]. Not for concurrent use: see the module docs.
#[repr(C, align(16))]
pub(crate) struct Arena<const N: usize> {
    bytes: UnsafeCell<[u8; N]>,
    /// Offset of the first free byte.
    cursor: AtomicUsize,
    /// Allocations from the arena not freed yet.
    live: AtomicUsize,
}

impl<const N: usize> std::fmt::Debug for Arena<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("capacity", &N)
            .field("used", &self.cursor.load(Relaxed))
            .field("live", &self.live.load(Relaxed))
            .finish()
    }
}

// SAFETY: `GlobalAlloc` requires `Sync`. The type is crate-private and instantiated only as the
// global allocator of a single-threaded wasm32 module and in single-threaded unit tests (see the
// module docs), so no two threads ever share one arena; its bump (a load, then a store) would
// not be sound if they did.
#[allow(unsafe_code)]
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An empty arena.
    pub(crate) const fn new() -> Self {
        Self {
            bytes: UnsafeCell::new([0; N]),
            cursor: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
        }
    }

    fn base(&self) -> usize {
        self.bytes.get().cast::<u8>() as usize
    }

    /// Whether `p` was handed out by the arena.
    fn owns(&self, p: *mut u8) -> bool {
        let base = self.base();
        (base..base + N).contains(&(p as usize))
    }

    /// Bytes handed out and not given back at the end of the arena.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.cursor.load(Relaxed)
    }

    /// A block from the arena, or `None` when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = self.base();
        let start = (base + self.cursor.load(Relaxed)).checked_next_multiple_of(layout.align())?;
        let end = start.checked_add(layout.size())?;
        if end > base + N {
            return None;
        }
        self.cursor.store(end - base, Relaxed);
        self.live.fetch_add(1, Relaxed);
        // Derive the pointer from the arena's own so that it keeps the arena's provenance.
        Some(self.bytes.get().cast::<u8>().wrapping_add(start - base))
    }

    /// Gives an arena block back.
    fn release(&self, p: *mut u8, size: usize) {
        let base = self.base();
        if self.live.fetch_sub(1, Relaxed) == 1 {
            self.cursor.store(0, Relaxed);
        } else if p as usize + size == base + self.cursor.load(Relaxed) {
            self.cursor.store(p as usize - base, Relaxed);
        }
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks from `bump` are inside the arena, aligned as asked and never handed out twice
// while alive (the cursor only moves back over blocks that were freed); everything else is
// `System`'s, and each pointer goes back to the allocator it came from (`owns`).
#[allow(unsafe_code)]
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: same contract as ours.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if self.owns(p) {
            self.release(p, layout.size());
        } else {
            // SAFETY: `p` came from `System` with this layout.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(p) {
            // SAFETY: `p` came from `System` with this layout.
            return unsafe { System.realloc(p, layout, new_size) };
        }
        let base = self.base();
        let end = p as usize + layout.size();
        // The most recent block grows (or shrinks) in place when the arena has room.
        if end == base + self.cursor.load(Relaxed) && p as usize + new_size <= base + N {
            self.cursor.store(p as usize + new_size - base, Relaxed);
            return p;
        }
        if new_size <= layout.size() {
            return p;
        }
        // SAFETY: the caller guarantees that `new_size`, rounded up to the alignment, does not
        // overflow `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size (it is larger than the old one).
        let q = unsafe { self.alloc(new_layout) };
        if !q.is_null() {
            // SAFETY: both blocks are valid for the old size and distinct (`q` is a new block).
            unsafe {
                ptr::copy_nonoverlapping(p, q, layout.size());
                self.dealloc(p, layout);
            }
        }
        q
    }
}

#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[global_allocator]
static ARENA: Arena<ARENA_BYTES> = Arena::new();

#[cfg(test)]
#[allow(unsafe_code, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_distinct_and_inside() {
        let a = Box::new(Arena::<4096>::new());
        let mut seen = Vec::new();
        for (size, align) in [(1, 1), (3, 8), (16, 16), (7, 2), (64, 64)] {
            let p = unsafe { a.alloc(layout(size, align)) };
            assert!(a.owns(p));
            assert_eq!(p as usize % align, 0);
            assert!(p as usize + size <= a.base() + 4096);
            unsafe { p.write_bytes(0xAB, size) };
            seen.push((p as usize, size));
        }
        seen.sort();
        for w in seen.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "overlapping blocks {w:?}");
        }
    }

    #[test]
    fn the_last_block_grows_in_place_and_others_move_with_their_bytes() {
        let a = Box::new(Arena::<4096>::new());
        let first = unsafe { a.alloc(layout(8, 8)) };
        unsafe { first.copy_from(b"ws3-rule".as_ptr(), 8) };
        let grown = unsafe { a.realloc(first, layout(8, 8), 32) };
        assert_eq!(grown, first, "the most recent block grows in place");
        let second = unsafe { a.alloc(layout(8, 8)) };
        let moved = unsafe { a.realloc(first, layout(32, 8), 64) };
        assert_ne!(moved, first);
        assert!(moved as usize > second as usize);
        assert_eq!(unsafe { std::slice::from_raw_parts(moved, 8) }, b"ws3-rule");
    }

    #[test]
    fn freeing_everything_rewinds_the_arena() {
        let a = Box::new(Arena::<4096>::new());
        let p = unsafe { a.alloc(layout(100, 4)) };
        let q = unsafe { a.alloc(layout(100, 4)) };
        unsafe { a.dealloc(q, layout(100, 4)) };
        assert_eq!(a.used(), 100, "freeing the last block gives its bytes back");
        unsafe { a.dealloc(p, layout(100, 4)) };
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn what_does_not_fit_comes_from_the_system_allocator() {
        let a = Box::new(Arena::<256>::new());
        let small = unsafe { a.alloc(layout(200, 8)) };
        assert!(a.owns(small));
        let big = unsafe { a.alloc(layout(200, 8)) };
        assert!(!big.is_null() && !a.owns(big));
        unsafe { big.write_bytes(1, 200) };
        // Growing an arena block past the arena moves it to the system allocator.
        unsafe { small.write_bytes(7, 200) };
        let moved = unsafe { a.realloc(small, layout(200, 8), 1000) };
        assert!(!a.owns(moved));
        assert!(
            unsafe { std::slice::from_raw_parts(moved, 200) }
                .iter()
                .all(|b| *b == 7)
        );
        assert_eq!(a.used(), 0, "the arena is empty again");
        unsafe {
            a.dealloc(big, layout(200, 8));
            a.dealloc(moved, layout(1000, 8));
        }
    }
}
