//! ws3-engine: the host side of ws3 rules, shared by `ws3-lint` and `ws3-webhook`, and the one
//! place where the rules of the game are written down.
//!
//! - [`Engine`] owns wasmtime: component model, budgets (wall-clock deadlines or fuel), on-disk
//!   cache of compiled modules, optional pooling allocator.
//! - [`Engine::load`] compiles a rule component once, checks its `ws3:policy` interface version
//!   (0.1 or 0.2), pre-links it and reads its metadata: a [`Rule`].
//! - [`RuleSet`] is the built-in rules (embedded in the binary) plus user modules, with the
//!   [`Config`] (`.ws3.yaml`) applied: which rules judge which kinds and operations, in which
//!   namespaces, with which severity and mode; and the webhook registration that follows.
//! - [`object`]: what a rule sees of the reviewed object, its identity and effective namespace.
//! - [`context`]: what a rule sees of other objects, and the index that serves them.
//! - [`review::lint`] judges a file set; [`review::admission`] judges one admission request
//!   (lifecycle, existing violations, modes, failures).

mod engine;
mod error;
mod host;
mod instance;
mod rule;
mod ruleset;
mod types;

pub mod config;
pub mod context;
pub mod files;
pub mod object;
pub mod path;
pub mod review;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::{Config, ConfigError, Mode, OnError};
pub use engine::{Budget, DEFAULT_FUEL, Engine, EngineOptions, Limits, default_cache_dir};
pub use error::{EngineError, EvalError, LoadError, Origin};
#[cfg(feature = "test-support")]
pub use host::Lookups;
pub use host::{NoObjects, ObjectSource};
pub use instance::Instance;
pub use rule::{
    MAX_FINDINGS, MAX_MODULE_BYTES, MAX_RESULT_BYTES, MAX_TEXT, Rule, SUPPORTED_INTERFACES,
};
pub use ruleset::{
    ConfiguredRule, Registration, RegistrationRule, RuleSet, RuleSetError, RuleSetOptions,
    builtin_modules,
};
pub use types::{
    Finding, KindRef, ObjectRef, Operation, Operations, Request, RuleMeta, Scope, Severity,
    group_of,
};
