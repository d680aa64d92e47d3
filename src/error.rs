//! Error types of the library. Only the binary renders them.

use std::io;

use ws3_engine::{ConfigError, EngineError, RuleSetError};

/// A failure that stops the run before any file is linted (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The wasm engine cannot be set up.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A rule module cannot be loaded, or the configuration names an unknown rule.
    #[error(transparent)]
    Rules(#[from] RuleSetError),
    /// `explain` was given an id no loaded rule has.
    #[error("unknown rule `{id}` (known rules: {known})")]
    UnknownRule {
        /// The id asked for.
        id: String,
        /// The ids that are loaded.
        known: String,
    },
    /// The working directory cannot be read (needed to find `.ws3.yaml`).
    #[error("cannot determine the working directory: {0}")]
    WorkingDirectory(#[source] io::Error),
    /// `--git-context` outside a git repository, or git failing.
    #[error("--git-context: {0}")]
    Git(String),
    /// Writing the report failed (e.g. a closed pipe).
    #[error("cannot write the report: {0}")]
    Output(#[source] io::Error),
}

/// What kind of problem a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// A file or directory cannot be read.
    Io,
    /// Not valid YAML or JSON.
    Syntax,
    /// A Kubernetes object with a field of the wrong type.
    Object,
    /// A rule module failed (trap, timeout, invalid result, rejected input).
    Rule,
    /// Nothing was checked: no file, no object, or no rule enabled.
    NothingChecked,
}

impl ProblemKind {
    /// Short lowercase name, as used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Syntax => "syntax",
            Self::Object => "object",
            Self::Rule => "rule",
            Self::NothingChecked => "nothing-checked",
        }
    }
}

/// A problem with one input or one rule evaluation. It is reported, makes the run exit with
/// code 2, and does not stop the other files. The message never quotes a value from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.headline())]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The file (as displayed), when the problem is in one.
    pub file: Option<String>,
    /// Line from 1, when known.
    pub line: Option<usize>,
    /// Column from 1, when known.
    pub column: Option<usize>,
    /// Document from 1, when known.
    pub document: Option<usize>,
    /// The rule, for rule failures.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem with a whole file.
    pub fn io(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: ProblemKind::Io,
            file: Some(file.into()),
            line: None,
            column: None,
            document: None,
            rule: None,
            message: message.into(),
        }
    }

    /// `file:line:col` (as much as is known).
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
            (Some(l), None) => format!("{file}:{l}"),
            _ => file.to_owned(),
        })
    }

    /// `location: message`.
    pub fn headline(&self) -> String {
        match self.location() {
            Some(at) => format!("{at}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Something worth saying in verbose mode (a skipped document, an empty directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The file, when the notice is about one.
    pub file: Option<String>,
    /// The document from 1, when about one.
    pub document: Option<usize>,
    /// What happened.
    pub message: String,
}
