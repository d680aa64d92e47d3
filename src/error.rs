//! Error types of the library. Only the binary renders them.

use std::{borrow::Cow, io};

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

impl ProblemKind {
    /// What this kind of problem is, in a few words (GitHub annotation titles).
    pub fn title(self) -> &'static str {
        match self {
            Self::Io => "unreadable input",
            Self::Syntax => "invalid YAML or JSON",
            Self::Object => "invalid Kubernetes object",
            Self::Rule => "rule failure",
            Self::NothingChecked => "nothing checked",
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

    /// A rule failure on an object. The message goes through [`sanitize_message`]: a rule's
    /// decode error does not echo the value it could not read.
    pub fn rule(
        rule: impl Into<String>,
        file: impl Into<String>,
        line: usize,
        column: usize,
        document: usize,
        message: &str,
    ) -> Self {
        Self {
            kind: ProblemKind::Rule,
            file: Some(file.into()),
            line: Some(line),
            column: Some(column),
            document: Some(document),
            rule: Some(rule.into()),
            message: sanitize_message(message).into_owned(),
        }
    }

    /// The message as every output shows it: without the values serde-style messages quote,
    /// and with passwords of URLs and connection strings masked (see [`sanitize_message`]).
    pub fn shown_message(&self) -> Cow<'_, str> {
        sanitize_message(&self.message)
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

/// Removes the input values that serde-style error messages quote, and masks passwords of URLs
/// and connection strings: ``invalid type: integer `73915824601`, expected a string`` becomes
/// `invalid type: integer, expected a string`, ``invalid value: string "hunter2", expected …``
/// becomes `invalid value: string, expected …`, ``unknown variant `x`, expected one of `a`, `b` ``
/// becomes `unknown variant, expected one of `a`, `b``. What the rule expected (its own words)
/// is kept; so are the names of fields (``missing field `name` ``).
pub fn sanitize_message(message: &str) -> Cow<'_, str> {
    /// serde's words before a value it quotes in backticks (`serde::de::Unexpected`, and
    /// `unknown variant`).
    const BACKTICKED: &[&str] = &[
        "boolean ",
        "integer ",
        "floating point ",
        "character ",
        "unknown variant ",
    ];
    let mut out = String::new();
    let mut rest = message;
    let mut changed = false;
    loop {
        // The earliest quoted value left.
        let next = BACKTICKED
            .iter()
            .filter_map(|w| rest.find(&format!("{w}`")).map(|i| (i, w.len(), '`')))
            .chain(rest.find("string \"").map(|i| (i, "string ".len(), '"')))
            .min_by_key(|(i, _, _)| *i);
        let Some((at, word, quote)) = next else {
            break;
        };
        let open = at + word;
        let close = match quote {
            '"' => closing_quote(rest, open),
            _ => closing_backtick(rest, open),
        };
        out.push_str(rest[..open].trim_end());
        rest = &rest[close..];
        changed = true;
    }
    mask_passwords(if changed {
        out.push_str(rest);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(message)
    })
}

/// The byte after the `"` that closes a Rust-debug-quoted string opened at `open`.
fn closing_quote(s: &str, open: usize) -> usize {
    let bytes = s.as_bytes();
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// The byte after the backtick that closes a value opened at `open`: the one before `, ` or
/// the end of the message (a value may hold backticks itself), else the next one.
fn closing_backtick(s: &str, open: usize) -> usize {
    let body = &s[open + 1..];
    let end = body
        .find("`, ")
        .or_else(|| body.strip_suffix('`').map(str::len))
        .or_else(|| body.find('`'));
    end.map_or(s.len(), |i| open + 1 + i + 1)
}

/// Masks the passwords of URLs and connection strings in a message.
fn mask_passwords(message: Cow<'_, str>) -> Cow<'_, str> {
    let mut spans = crate::redact::password_spans(&message);
    if spans.is_empty() {
        return message;
    }
    spans.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(message.len());
    let mut at = 0;
    for span in spans {
        if span.start < at {
            at = at.max(span.end);
            continue;
        }
        out.push_str(&message[at..span.start]);
        out.push_str(crate::redact::MASK);
        at = span.end;
    }
    out.push_str(&message[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_values() {
        for (message, shown) in [
            (
                "rule r cannot evaluate this object: invalid type: integer `73915824601`, expected a string at line 1 column 83",
                "rule r cannot evaluate this object: invalid type: integer, expected a string at line 1 column 83",
            ),
            (
                "invalid type: string \"hunter2\", expected u32",
                "invalid type: string, expected u32",
            ),
            (
                r#"invalid value: string "a\"b, c", expected a port"#,
                "invalid value: string, expected a port",
            ),
            (
                "invalid type: floating point `1.5`, expected i64",
                "invalid type: floating point, expected i64",
            ),
            (
                "invalid type: boolean `true`, expected a string",
                "invalid type: boolean, expected a string",
            ),
            (
                "invalid type: character `x`, expected a map",
                "invalid type: character, expected a map",
            ),
            (
                "unknown variant `hun`ter2`, expected one of `a`, `b`",
                "unknown variant, expected one of `a`, `b`",
            ),
            (
                "spec.x: invalid type: integer `-5`",
                "spec.x: invalid type: integer",
            ),
            (
                "missing field `name` at line 1 column 2",
                "missing field `name` at line 1 column 2",
            ),
            (
                "invalid type: sequence, expected a string",
                "invalid type: sequence, expected a string",
            ),
            (
                "cannot connect to postgresql://app:hunter2@db/app",
                "cannot connect to postgresql://app:****@db/app",
            ),
            (
                "data.POSTGRES_PASSWORD: invalid type: integer `1`, expected a string",
                "data.POSTGRES_PASSWORD: invalid type: integer, expected a string",
            ),
        ] {
            assert_eq!(sanitize_message(message), shown, "{message}");
        }
        assert!(matches!(
            sanitize_message("`metadata.namespace` must be a string, not a list"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn rule_problems_are_sanitized() {
        let p = Problem::rule(
            "r",
            "f.yaml",
            3,
            1,
            2,
            "invalid type: integer `73915824601`, expected a string",
        );
        assert_eq!(p.message, "invalid type: integer, expected a string");
        assert_eq!(p.kind, ProblemKind::Rule);
        let raw = Problem {
            message: "invalid type: integer `73915824601`".into(),
            ..p
        };
        assert_eq!(raw.shown_message(), "invalid type: integer");
    }
}
