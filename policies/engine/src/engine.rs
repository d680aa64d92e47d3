//! The wasmtime engine, rule modules and their instances.
//!
//! Compile once (cached on disk by wasmtime, keyed by module hash and engine settings),
//! pre-link once per module ([`Rule`]), and run each evaluation in a store with an epoch deadline
//! and a memory cap. A module that traps, runs out of time or memory, or returns something the
//! host refuses becomes an [`EvalError`] naming the rule.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::Duration,
};

use wasmtime::{
    Config, Store, Trap,
    component::{Component, HasSelf, Linker},
};

use crate::{
    error::{EngineError, EvalError, LoadError, Origin},
    host::{HostState, Limiter, NoObjects, ObjectSource, v0_1},
    types::{Finding, KindRef, ObjectRef, Operation, Request, RuleMeta, Severity},
};

/// The interface versions this host runs, as `major.minor` (0.x minors are breaking).
pub const SUPPORTED_INTERFACE: &str = "0.1";

/// How often the epoch advances; deadlines are counted in these ticks.
const TICK: Duration = Duration::from_millis(5);

/// Rules per pooling slot whose memories stay warm (see [`EngineOptions::pooling`]).
const RULES_PER_SLOT: u32 = 8;
/// Bytes of a pooled memory or table reset in place rather than given back to the kernel.
const KEEP_RESIDENT: usize = 4 << 20;

/// Most findings one evaluation may return.
const MAX_FINDINGS: usize = 10_000;
/// Longest message, hint or path accepted from a rule, in bytes.
const MAX_TEXT: usize = 16 * 1024;

/// Per-evaluation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one call may take.
    pub deadline: Duration,
    /// Linear memory one instance may grow to, in bytes.
    pub max_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(500),
            max_memory: 64 << 20,
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
    inner: wasmtime::Engine,
    linker: Arc<Linker<HostState>>,
    limits: Limits,
    cache: Option<wasmtime::Cache>,
    _ticker: Arc<Ticker>,
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
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .parallel_compilation(true);
        let mut cache = None;
        if let Some(dir) = &options.cache_dir {
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir);
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
            .map_err(|e| err("cannot link the host interface", e))?;
        let ticker = Ticker::start(&inner)?;
        Ok(Self {
            inner,
            linker: Arc::new(linker),
            limits: options.limits,
            cache,
            _ticker: Arc::new(ticker),
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

    /// Compiles and checks a rule component.
    pub fn load(&self, bytes: &[u8], origin: Origin) -> Result<Rule, LoadError> {
        if bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0] {
            return Err(LoadError::Compile {
                origin,
                message: "this is a core wasm module, not a component; build rules with `cargo xtask build-rules` (or turn a module into a component with `wasm-tools component new`)".into(),
            });
        }
        let component = Component::new(&self.inner, bytes).map_err(|e| LoadError::Compile {
            origin: origin.clone(),
            message: format!("{e:#}"),
        })?;
        check_interface(&self.inner, &component, &origin)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(v0_1::PolicyPre::new)
            .map_err(|e| LoadError::Link {
                origin: origin.clone(),
                message: format!("{e:#}"),
            })?;
        let probe = Rule {
            meta: Arc::new(placeholder_meta(&origin)),
            origin: origin.clone(),
            pre,
            reads: Arc::from(Vec::new()),
        };
        let mut instance =
            probe
                .instantiate(self, Arc::new(NoObjects))
                .map_err(|e| LoadError::Metadata {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?;
        let meta = instance.metadata(self).map_err(|e| LoadError::Metadata {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        validate_meta(&meta).map_err(|message| LoadError::Metadata {
            origin: origin.clone(),
            message,
        })?;
        Ok(Rule {
            reads: Arc::from(meta.reads.clone()),
            meta: Arc::new(meta),
            origin,
            pre: probe.pre,
        })
    }

    /// Loads a `.wasm` file.
    pub fn load_file(&self, path: &Path) -> Result<Rule, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.load(&bytes, Origin::File(path.to_owned()))
    }

    /// Loads a `.wasm` file, or every `*.wasm` file of a directory (sorted by name).
    pub fn load_path(&self, path: &Path) -> Result<Vec<Rule>, LoadError> {
        let io = |source| LoadError::Io {
            path: path.to_owned(),
            source,
        };
        if !path.is_dir() {
            return Ok(vec![self.load_file(path)?]);
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io)? {
            let file = entry.map_err(io)?.path();
            if file.extension().is_some_and(|e| e == "wasm") && file.is_file() {
                files.push(file);
            }
        }
        files.sort();
        files.iter().map(|f| self.load_file(f)).collect()
    }
}

fn placeholder_meta(origin: &Origin) -> RuleMeta {
    RuleMeta {
        id: origin.to_string(),
        title: String::new(),
        severity: Severity::Error,
        applies_to: Vec::new(),
        reads: Vec::new(),
        rationale: String::new(),
        docs: String::new(),
    }
}

/// Finds the `ws3:policy/rule@X.Y.Z` export and checks that this host runs version X.Y.
fn check_interface(
    engine: &wasmtime::Engine,
    component: &Component,
    origin: &Origin,
) -> Result<(), LoadError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let Some(version) = exports
        .iter()
        .find_map(|name| name.strip_prefix("ws3:policy/rule@"))
    else {
        return Err(LoadError::NotARule {
            origin: origin.clone(),
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    };
    let major_minor = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    if major_minor != SUPPORTED_INTERFACE {
        return Err(LoadError::Version {
            origin: origin.clone(),
            found: version.to_owned(),
            supported: format!("{SUPPORTED_INTERFACE}.x"),
        });
    }
    Ok(())
}

fn validate_meta(meta: &RuleMeta) -> Result<(), String> {
    let id_ok = !meta.id.is_empty()
        && meta.id.len() <= 64
        && meta
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !meta.id.starts_with('-');
    if !id_ok {
        return Err(format!(
            "rule id {:?} must be 1-64 characters of a-z, 0-9 and `-`",
            meta.id
        ));
    }
    if meta.applies_to.is_empty() {
        return Err(format!(
            "rule {} declares no kinds in `applies-to`",
            meta.id
        ));
    }
    if meta.title.len() > 200 || meta.rationale.len() > MAX_TEXT || meta.docs.len() > 256 * 1024 {
        return Err(format!(
            "rule {} has an oversized title, rationale or docs",
            meta.id
        ));
    }
    Ok(())
}

/// A loaded, pre-linked rule module. Cheap to clone.
#[derive(Clone)]
pub struct Rule {
    meta: Arc<RuleMeta>,
    origin: Origin,
    pre: v0_1::PolicyPre<HostState>,
    reads: Arc<[KindRef]>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.meta.id)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// What the rule declares.
    pub fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    /// Where it was loaded from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// A fresh instance reading other objects from `source`. Use one per admission evaluation;
    /// offline, one per worker can serve many calls.
    pub fn instantiate(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
    ) -> Result<Instance, EvalError> {
        self.instantiate_within(engine, source, engine.limits.deadline)
    }

    /// [`Rule::instantiate`], with each call limited to `deadline` (at most the engine's).
    fn instantiate_within(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
        deadline: Duration,
    ) -> Result<Instance, EvalError> {
        let deadline = deadline.min(engine.limits.deadline);
        let state = HostState {
            limiter: Limiter {
                max_memory: engine.limits.max_memory,
                exceeded: false,
            },
            source,
            reads: Arc::clone(&self.reads),
        };
        let mut store = Store::new(&engine.inner, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(deadline_ticks(deadline));
        let bindings = self.pre.instantiate(&mut store).map_err(|e| {
            classify(
                &self.meta.id,
                deadline,
                &engine.limits,
                store.data().limiter.exceeded,
                &e,
                "start",
            )
        })?;
        Ok(Instance {
            rule: self.clone(),
            store,
            bindings,
            deadline,
        })
    }

    /// Evaluates one request in a fresh instance.
    pub fn evaluate(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
        request: &Request<'_>,
    ) -> Result<Vec<Finding>, EvalError> {
        self.instantiate(engine, source)?.validate(engine, request)
    }

    /// [`Rule::evaluate`] within `deadline` when that is shorter than the engine's per-rule
    /// deadline (the time left of an admission review, say): the rule is stopped then and the
    /// error is [`EvalError::Timeout`] with that deadline.
    pub fn evaluate_within(
        &self,
        engine: &Engine,
        source: Arc<dyn ObjectSource>,
        request: &Request<'_>,
        deadline: Duration,
    ) -> Result<Vec<Finding>, EvalError> {
        self.instantiate_within(engine, source, deadline)?
            .validate(engine, request)
    }
}

fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / TICK.as_millis()).max(1) as u64 + 1
}

/// Turns a wasmtime error into an [`EvalError`].
fn classify(
    rule: &str,
    deadline: Duration,
    limits: &Limits,
    memory_exceeded: bool,
    e: &wasmtime::Error,
    what: &str,
) -> EvalError {
    let rule = rule.to_owned();
    if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
        return EvalError::Timeout { rule, deadline };
    }
    if memory_exceeded {
        return EvalError::OutOfMemory {
            rule,
            limit_mib: limits.max_memory >> 20,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(trap) => EvalError::Trap {
            rule,
            message: format!("{trap} (in {what})"),
        },
        None if what == "start" => EvalError::Instantiate {
            rule,
            message: format!("{e:#}"),
        },
        // Not a trap: the host could not lift what the guest returned (bad UTF-8, a wild
        // pointer, an unknown discriminant...).
        None => EvalError::Invalid {
            rule,
            message: format!("{e:#}"),
        },
    }
}

/// A live instance of a rule. After any error other than a rejected or invalid result the
/// instance is discarded: the next call on it returns the same error kind.
pub struct Instance {
    rule: Rule,
    store: Store<HostState>,
    bindings: v0_1::Policy,
    /// Limit of each call.
    deadline: Duration,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("rule", &self.rule.meta.id)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// The rule this is an instance of.
    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    fn arm(&mut self) {
        self.store.set_epoch_deadline(deadline_ticks(self.deadline));
    }

    fn metadata(&mut self, engine: &Engine) -> Result<RuleMeta, EvalError> {
        self.arm();
        let m = self
            .bindings
            .ws3_policy_rule()
            .call_metadata(&mut self.store)
            .map_err(|e| {
                classify(
                    &self.rule.meta.id,
                    self.deadline,
                    &engine.limits,
                    self.store.data().limiter.exceeded,
                    &e,
                    "metadata",
                )
            })?;
        let kinds = |v: Vec<v0_1::ws3::policy::types::KindRef>| {
            v.into_iter()
                .map(|k| KindRef {
                    group: k.group,
                    kind: k.kind,
                })
                .collect()
        };
        Ok(RuleMeta {
            id: m.id,
            title: m.title,
            severity: severity(m.severity),
            applies_to: kinds(m.applies_to),
            reads: kinds(m.reads),
            rationale: m.rationale,
            docs: m.docs,
        })
    }

    /// Evaluates one request.
    pub fn validate(
        &mut self,
        engine: &Engine,
        request: &Request<'_>,
    ) -> Result<Vec<Finding>, EvalError> {
        use v0_1::ws3::policy::types as wit;
        self.arm();
        let req = wit::Request {
            operation: match request.operation {
                Operation::Create => wit::Operation::Create,
                Operation::Update => wit::Operation::Update,
                Operation::Delete => wit::Operation::Delete,
                Operation::Lint => wit::Operation::Lint,
            },
            object: request.object.map(str::to_owned),
            old_object: request.old_object.map(str::to_owned),
            namespace: request.namespace.to_owned(),
            settings: request.settings.to_owned(),
        };
        let id = &self.rule.meta.id;
        let result = self
            .bindings
            .ws3_policy_rule()
            .call_validate(&mut self.store, &req)
            .map_err(|e| {
                classify(
                    id,
                    self.deadline,
                    &engine.limits,
                    self.store.data().limiter.exceeded,
                    &e,
                    "validate",
                )
            })?;
        let findings = result.map_err(|message| EvalError::Rejected {
            rule: id.clone(),
            message: truncate(message),
        })?;
        if findings.len() > MAX_FINDINGS {
            return Err(EvalError::Invalid {
                rule: id.clone(),
                message: format!(
                    "{} findings for one object (at most {MAX_FINDINGS})",
                    findings.len()
                ),
            });
        }
        findings
            .into_iter()
            .map(|f| {
                for (what, text) in [
                    ("message", &f.message),
                    ("hint", &f.hint),
                    ("path", &f.path),
                ] {
                    if text.len() > MAX_TEXT {
                        return Err(EvalError::Invalid {
                            rule: id.clone(),
                            message: format!("a finding's {what} is {} bytes long", text.len()),
                        });
                    }
                }
                Ok(Finding {
                    // A module speaks only for itself, whatever id it puts in a finding.
                    rule_id: id.clone(),
                    severity: severity(f.severity),
                    message: f.message,
                    path: f.path,
                    hint: f.hint,
                    subject: f.subject.map(|s| ObjectRef {
                        api_version: s.api_version,
                        kind: s.kind,
                        namespace: s.namespace,
                        name: s.name,
                    }),
                    suppressed: false,
                })
            })
            .collect()
    }
}

fn truncate(mut message: String) -> String {
    if message.len() > 1024 {
        let mut end = 1024;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

fn severity(s: v0_1::ws3::policy::types::Severity) -> Severity {
    use v0_1::ws3::policy::types::Severity as W;
    match s {
        W::Info => Severity::Info,
        W::Warning => Severity::Warning,
        W::Error => Severity::Error,
    }
}
