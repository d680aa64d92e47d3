//! ws3-engine: the host side of ws3 rules, shared by `ws3-lint` and `ws3-webhook`.
//!
//! - [`Engine`] owns wasmtime: component model, epoch deadlines, on-disk cache of compiled
//!   modules, optional pooling allocator.
//! - [`Engine::load`] compiles a rule component once, checks its `ws3:policy` interface version,
//!   pre-links it and reads its metadata: a [`Rule`].
//! - [`Rule::evaluate`] runs one request in a fresh store (admission); [`Rule::instantiate`]
//!   gives an [`Instance`] that serves many requests (offline lint).
//! - [`RuleSet`] is the built-in rules (embedded in the binary) plus user modules, with the
//!   [`Config`] (`.ws3.yaml`) applied.
//! - Rules read other objects through an [`ObjectSource`]: the linted file set, or watch caches.

mod engine;
mod error;
mod host;
mod ruleset;
mod types;

pub mod config;
pub mod path;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::{Config, ConfigError, Mode, OnError};
pub use engine::{
    Engine, EngineOptions, Instance, Limits, Rule, SUPPORTED_INTERFACE, default_cache_dir,
};
pub use error::{EngineError, EvalError, LoadError, Origin};
pub use host::{NoObjects, ObjectSource, redact_secret};
pub use ruleset::{
    ConfiguredRule, IGNORE_ANNOTATION, RuleSet, RuleSetError, apply_suppressions, builtin_modules,
    ignore_annotation, ignores,
};
pub use types::{Finding, KindRef, ObjectRef, Operation, Request, RuleMeta, Severity, group_of};
