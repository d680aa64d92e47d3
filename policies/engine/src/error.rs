//! Typed errors of the engine. Every error names the rule or module it comes from.

use std::{path::PathBuf, time::Duration};

/// Where a module came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in the binary.
    Builtin(String),
    /// Loaded from a file.
    File(PathBuf),
    /// Given as bytes (tests, embedders).
    Bytes(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Builtin(name) => write!(f, "built-in rule module {name}"),
            Self::File(path) => write!(f, "rule module {}", path.display()),
            Self::Bytes(name) => write!(f, "rule module {name}"),
        }
    }
}

/// A module that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or directory cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not a valid WebAssembly component (a core module, garbage, or a compile failure).
    #[error("{origin} is not a valid WebAssembly component: {message}")]
    Compile {
        /// The module.
        origin: Origin,
        /// What wasmtime said.
        message: String,
    },
    /// A component that does not export the ws3 rule interface at all.
    #[error(
        "{origin} is not a ws3 rule: it exports no `ws3:policy/rule` interface (exports: {exports})"
    )]
    NotARule {
        /// The module.
        origin: Origin,
        /// What it exports instead.
        exports: String,
    },
    /// Built against an interface version this host does not run.
    #[error(
        "{origin} was built against ws3:policy@{found}, but this ws3 runs rules built against ws3:policy@{supported}; rebuild the rule with a matching ws3-policy-sdk"
    )]
    Version {
        /// The module.
        origin: Origin,
        /// The version it exports.
        found: String,
        /// What this host supports.
        supported: String,
    },
    /// Imports something the host does not provide.
    #[error("{origin} cannot be linked: {message}")]
    Link {
        /// The module.
        origin: Origin,
        /// What wasmtime said.
        message: String,
    },
    /// Its `metadata` call failed or returned invalid metadata.
    #[error("{origin} has invalid metadata: {message}")]
    Metadata {
        /// The module.
        origin: Origin,
        /// Why.
        message: String,
    },
    /// Two modules declare the same rule id.
    #[error("rule id `{id}` is declared by both {first} and {second}")]
    Duplicate {
        /// The id.
        id: String,
        /// The module loaded first.
        first: Origin,
        /// The module loaded second.
        second: Origin,
    },
}

/// A rule evaluation that did not produce findings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// Ran past its deadline.
    #[error("rule {rule} did not finish within its {deadline:?} deadline")]
    Timeout {
        /// Rule id.
        rule: String,
        /// The deadline.
        deadline: Duration,
    },
    /// Used up its fuel (offline linting's budget, the same on every machine).
    #[error(
        "rule {rule} used up its budget of {fuel} fuel units (about one per wasm instruction) without finishing"
    )]
    OutOfFuel {
        /// Rule id.
        rule: String,
        /// The budget.
        fuel: u64,
    },
    /// Tried to grow memory past its cap.
    #[error("rule {rule} exceeded its memory limit of {limit_mib} MiB")]
    OutOfMemory {
        /// Rule id.
        rule: String,
        /// The cap.
        limit_mib: usize,
    },
    /// Trapped (a panic, `unreachable`, an out-of-bounds access...).
    #[error("rule {rule} crashed: {message}")]
    Trap {
        /// Rule id.
        rule: String,
        /// The trap.
        message: String,
    },
    /// The rule says it cannot read its input.
    #[error("rule {rule} cannot evaluate this object: {message}")]
    Rejected {
        /// Rule id.
        rule: String,
        /// The rule's message.
        message: String,
    },
    /// The rule returned something the host refuses.
    #[error("rule {rule} returned an invalid result: {message}")]
    Invalid {
        /// Rule id.
        rule: String,
        /// Why it was refused.
        message: String,
    },
    /// The module could not be instantiated (e.g. no free instance slot).
    #[error("rule {rule} could not be started: {message}")]
    Instantiate {
        /// Rule id.
        rule: String,
        /// Why.
        message: String,
    },
}

impl EvalError {
    /// The id of the rule that failed.
    pub fn rule(&self) -> &str {
        match self {
            Self::Timeout { rule, .. }
            | Self::OutOfFuel { rule, .. }
            | Self::OutOfMemory { rule, .. }
            | Self::Trap { rule, .. }
            | Self::Rejected { rule, .. }
            | Self::Invalid { rule, .. }
            | Self::Instantiate { rule, .. } => rule,
        }
    }

    /// Whether the instance that produced it can no longer be used.
    pub fn poisons_instance(&self) -> bool {
        !matches!(self, Self::Rejected { .. } | Self::Invalid { .. })
    }
}

/// An engine that cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the wasm engine: {0}")]
pub struct EngineError(pub String);
