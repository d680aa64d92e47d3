//! The wasmtime engine shared by every rule.
//!
//! Compile once (cached on disk by wasmtime, keyed by module hash and engine settings), pre-link
//! once per module ([`crate::Rule`]), and run each evaluation in a store with a budget and a
//! memory cap. Two budgets: a wall-clock deadline (epochs; the webhook, which must answer the
//! API server in time) and wasmtime fuel (the linter, whose verdicts must not depend on how busy
//! the machine is).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use wasmtime::{
    Config,
    component::{HasSelf, Linker},
};

use crate::{
    error::EngineError,
    host::{HostState, v0_1, v0_2},
};

/// How often the epoch advances; deadlines are counted in these ticks.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// Rules per pooling slot whose memories stay warm (see [`EngineOptions::pooling`]).
const RULES_PER_SLOT: u32 = 8;
/// Bytes of a pooled memory or table reset in place rather than given back to the kernel.
const KEEP_RESIDENT: usize = 4 << 20;

/// Fuel of one lint evaluation when none is configured: about a second of wasm on these
/// machines, a thousand times what a built-in rule uses on a large object.
pub const DEFAULT_FUEL: u64 = 2_000_000_000;

/// What bounds one evaluation's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Wall-clock time (epoch interruption): the webhook's review deadline.
    Deadline(Duration),
    /// wasmtime fuel (about one unit per wasm instruction): the same verdict on a loaded and an
    /// idle machine.
    Fuel(u64),
}

/// Per-evaluation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How much work one call may do.
    pub budget: Budget,
    /// Linear memory one instance may grow to, in bytes.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            budget: Budget::Deadline(Duration::from_millis(500)),
            max_memory: 64 << 20,
        }
    }
}

impl Limits {
    /// Limits for offline linting: fuel instead of a deadline.
    pub fn offline() -> Self {
        Self {
            budget: Budget::Fuel(DEFAULT_FUEL),
            ..Self::default()
        }
    }

    /// The wall-clock deadline of one call, when the budget is one.
    pub fn deadline(&self) -> Option<Duration> {
        match self.budget {
            Budget::Deadline(d) => Some(d),
            Budget::Fuel(_) => None,
        }
    }
}

/// How to set up the engine.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Limits of every evaluation.
    pub limits: Limits,
    /// Where compiled modules are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling instance allocator for this many evaluations at once (admission: many
    /// short-lived instances). `None` allocates on demand (lint: few long-lived instances).
    pub pooling: Option<u32>,
}

/// The zstd level of the compiled-module cache, for new and often-used modules alike.
const CACHE_COMPRESSION_LEVEL: i32 = 3;

/// The cache directory used when none is configured: `$WS3_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/ws3/modules`, else `$HOME/.cache/ws3/modules`.
///
/// wasmtime owns this directory: its cache cleanup deletes files it did not write, so it must
/// hold nothing else.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WS3_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("ws3").join("modules"))
}

/// Advances the engine's epoch every [`TICK`] until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    fn start(engine: &wasmtime::Engine) -> Result<Self, EngineError> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = Arc::clone(&stop);
        thread::Builder::new()
            .name("ws3-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| EngineError(format!("cannot start the epoch thread: {e}")))?;
        Ok(Self { stop })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The wasm engine shared by all rules. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: wasmtime::Engine,
    pub(crate) linker: Arc<Linker<HostState>>,
    pub(crate) limits: Limits,
    cache: Option<wasmtime::Cache>,
    _ticker: Option<Arc<Ticker>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with these options.
    pub fn new(options: &EngineOptions) -> Result<Self, EngineError> {
        let err = |what: &str, e: wasmtime::Error| EngineError(format!("{what}: {e}"));
        let mut config = Config::new();
        let deadline = options.limits.deadline().is_some();
        config
            .wasm_component_model(true)
            .epoch_interruption(deadline)
            .consume_fuel(!deadline)
            .parallel_compilation(true);
        let mut cache = None;
        if let Some(dir) = &options.cache_dir {
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir);
            // wasmtime's cache recompresses a module used 256 times at zstd level 20, whose
            // window every later load then allocates: 32 MiB per module, measured as a 34 MB
            // heap peak at start in a run that otherwise peaks at 33 MB. The baseline level
            // (3) costs a 2 MiB window; a compiled rule is 0.3-0.5 MB either way.
            cache_config
                .with_baseline_compression_level(CACHE_COMPRESSION_LEVEL)
                .with_optimized_compression_level(CACHE_COMPRESSION_LEVEL);
            let c = wasmtime::Cache::new(cache_config)
                .map_err(|e| err("cannot use the module cache", e))?;
            config.cache(Some(c.clone()));
            cache = Some(c);
        }
        if let Some(slots) = options.pooling {
            // One slot runs one rule instance at a time, and a review runs its rules one after
            // another. Memories are kept per rule (up to RULES_PER_SLOT rules) so that an instance
            // lands on a memory its module used before.
            let memories = slots.saturating_mul(RULES_PER_SLOT);
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            // A rule component holds one core instance and one memory; leave room for the
            // small adapter instances wit-component may add.
            pool.total_component_instances(memories)
                .total_core_instances(memories.saturating_mul(4))
                .total_memories(memories)
                .total_tables(memories.saturating_mul(2))
                .max_memory_size(options.limits.max_memory)
                // Reset a used memory by zeroing the pages the instance wrote (found with Linux's
                // PAGEMAP_SCAN where the kernel has it) instead of handing them back to the
                // kernel: the next instance starts without page faults.
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            // No virtual-memory work per instance: a memory's copy-on-write image stays mapped
            // in the slots its module used, and a rule built with the SDK allocates from an
            // arena inside its initial memory, so an evaluation never grows its memory and
            // nothing is mprotect-ed as an instance starts, grows or is recycled (each mprotect
            // takes the process-wide mmap lock and interrupts every core to flush its TLB).
            // Memories keep wasmtime's default 4 GiB reservation and guard region: compiled
            // code needs no bounds checks, and the page-table scan that finds the pages to reset
            // covers only what is accessible. `cargo bench -p ws3-webhook --bench load` shows
            // the effect of each of these.
            config.memory_init_cow(true);
        }
        let inner =
            wasmtime::Engine::new(&config).map_err(|e| err("invalid engine configuration", e))?;
        let mut linker = Linker::new(&inner);
        v0_1::Policy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| err("cannot link the host interface 0.1", e))?;
        v0_2::Policy::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(|e| err("cannot link the host interface 0.2", e))?;
        let ticker = if deadline {
            Some(Arc::new(Ticker::start(&inner)?))
        } else {
            None
        };
        Ok(Self {
            inner,
            linker: Arc::new(linker),
            limits: options.limits,
            cache,
            _ticker: ticker,
        })
    }

    /// The limits of every evaluation.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// `(hits, misses)` of the compiled-module cache since start, when a cache is configured.
    pub fn cache_stats(&self) -> Option<(usize, usize)> {
        self.cache
            .as_ref()
            .map(|c| (c.cache_hits(), c.cache_misses()))
    }
}

/// Epoch ticks for a deadline.
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / TICK.as_millis()).max(1) as u64 + 1
}
