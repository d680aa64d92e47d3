//! The command line. Linting is the default; `rules` and `explain` are the only subcommands.

mod commands;

use std::path::PathBuf;

pub use commands::{Console, run};

use clap::{Args, Parser, Subcommand, ValueEnum};
use ws3_engine::Severity;

/// Lints Kubernetes manifests for stateful applications with the ws3 rules.
///
/// Reads files, directories (recursively: *.yaml, *.yml, *.json) and `-` for standard input,
/// e.g. `helm template . | ws3-lint -`. All inputs form one context: rules that look at several
/// objects see every object of the same namespace across all files.
///
/// Exit status: 0 when no unsuppressed finding is at or above --fail-on, 1 when some are, 2 on a
/// usage error, unreadable or invalid input, bad configuration or a rule module failure.
#[derive(Debug, Parser)]
#[command(
    name = "ws3-lint",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Subcommands: `ws3-lint rules` lists the rules, `ws3-lint explain <ID>` prints one rule's documentation.\nTo lint a directory named like a subcommand, write it as a path: `ws3-lint ./rules`."
)]
pub struct Cli {
    /// A subcommand instead of linting.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to lint and how.
    #[command(flatten)]
    pub lint: LintArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the rules: id, severity, source and title.
    Rules(RulesArgs),
    /// Print a rule's documentation (Markdown).
    Explain(ExplainArgs),
}

/// Options that choose and configure the rules.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// Configuration file (default: `.ws3.yaml` in the working directory or the nearest parent).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extra rule module: a `.wasm` component or a directory of them (repeatable; `modules:`
    /// in `.ws3.yaml`).
    #[arg(long = "module", alias = "rules", value_name = "PATH")]
    pub modules: Vec<PathBuf>,
    /// Turn a rule off (repeatable).
    #[arg(long, value_name = "ID")]
    pub disable: Vec<String>,
    /// Do not use or fill the cache of compiled rule modules.
    #[arg(long)]
    pub no_cache: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// For people: `path:line:col: severity[rule] message` with the offending lines.
    #[default]
    Text,
    /// One JSON document (see `ws3_lint::emit::json` for the schema).
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

/// The lowest severity that fails the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum FailOn {
    /// Any finding.
    Info,
    /// Warnings and errors.
    Warning,
    /// Errors only.
    #[default]
    Error,
}

impl From<FailOn> for Severity {
    fn from(f: FailOn) -> Self {
        match f {
            FailOn::Info => Self::Info,
            FailOn::Warning => Self::Warning,
            FailOn::Error => Self::Error,
        }
    }
}

/// Options of a lint run.
#[derive(Debug, Args, Clone, Default)]
pub struct LintArgs {
    /// Files and directories to lint; `-` reads standard input.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The lowest severity that makes the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOn::Error, value_name = "SEVERITY")]
    pub fail_on: FailOn,
    /// Namespace of objects that have none (default: `defaultNamespace` from the configuration,
    /// else `default`).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Show suppressed findings too (JSON and SARIF always include them, marked).
    #[arg(long)]
    pub show_suppressed: bool,
    /// Say more: skipped documents, rules loaded, timing.
    #[arg(short, long)]
    pub verbose: bool,
    /// No colours (also when `NO_COLOR` is set or the output is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// Read these files or directories for lookups only: the Services, NetworkPolicies and
    /// ConfigMaps other objects refer to; nothing is reported about them (repeatable).
    #[arg(long, value_name = "PATH")]
    pub context: Vec<PathBuf>,
    /// Use every YAML and JSON file git tracks in the repository as context (what the
    /// pre-commit hook does: the staged files are judged, the whole repository is looked up).
    #[arg(long)]
    pub git_context: bool,
    /// Worker threads (default: the number of cores).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Rule selection and configuration.
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// Options of `ws3-lint rules`.
#[derive(Debug, Args, Clone, Default)]
pub struct RulesArgs {
    /// Output format: `text` (a table) or `json`.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    /// Rule selection and configuration.
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// Formats of `ws3-lint rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListFormat {
    /// A table.
    #[default]
    Text,
    /// A JSON array.
    Json,
}

/// Options of `ws3-lint explain`.
#[derive(Debug, Args, Clone, Default)]
pub struct ExplainArgs {
    /// The rule id, e.g. `statefulset-emptydir-data`.
    pub id: String,
    /// Rule selection and configuration (to explain rules from extra modules).
    #[command(flatten)]
    pub rules: RuleArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn linting_is_the_default_and_subcommands_are_recognised() {
        let cli = Cli::try_parse_from([
            "ws3-lint",
            "a.yaml",
            "-",
            "--format",
            "json",
            "--disable",
            "x",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(
            cli.lint.paths,
            vec![PathBuf::from("a.yaml"), PathBuf::from("-")]
        );
        assert_eq!(cli.lint.format, Format::Json);
        assert_eq!(cli.lint.rules.disable, vec!["x"]);
        let cli = Cli::try_parse_from(["ws3-lint", "explain", "some-rule"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Explain(ExplainArgs { ref id, .. })) if id == "some-rule")
        );
        let cli = Cli::try_parse_from(["ws3-lint", "rules", "--config", "c.yaml"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Rules(_))));
        assert!(Cli::try_parse_from(["ws3-lint"]).is_err());
        assert!(Cli::try_parse_from(["ws3-lint", "--fail-on", "warn", "x"]).is_err());
    }
}
