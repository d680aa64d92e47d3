//! A span-aware loader that reads manifests the way kubectl does.
//!
//! [`parse_stream`] turns a file into documents whose nodes keep their source [`Span`]s;
//! [`write_json`] serializes a node to the compact JSON that rules receive. The parts:
//!
//! - [`node`]: the tree ([`Node`], [`Entry`], [`Scalar`], [`Pos`], [`Span`], [`Document`]);
//! - `fast`: the fast path for the block YAML most manifests use, which builds the same tree
//!   without the parser and gives the file to the general path below at the first thing it
//!   does not know ([`parse_fast`], [`parse_stream_general`]);
//! - `resolve`: what a plain scalar means (YAML 1.1, as go-yaml v2 reads it);
//! - `loader`: parser events to the tree: anchors, aliases, `<<` merges, duplicate keys, the
//!   expansion budget;
//! - `repair`: quoted scalars and flow collections indented the way go-yaml accepts and
//!   YAML 1.2 does not;
//! - `json`: files that start with `{`, read as a stream of JSON objects;
//! - `write`: the JSON writer.
//!
//! # Where kubectl and YAML 1.2 disagree, ws3 reads what kubectl reads
//!
//! kubectl reads manifests with `sigs.k8s.io/yaml`, on go-yaml (a port of libyaml, YAML 1.1)
//! and Go's `encoding/json`. The YAML parser underneath ws3 (`saphyr-parser`) is YAML 1.2; on
//! top of it:
//!
//! - **Scalars** resolve the YAML 1.1 way: `yes`/`no`/`on`/`off`/`y`/`n` (any case form go-yaml
//!   knows) are booleans, `0755` is octal, `0b101` binary, `1_000` an integer; quoted and block
//!   scalars are strings. Non-string keys become text (`true: x` is the key `"true"`).
//! - **Quoted scalars and flow collections** (`[`, `{`) may have lines at any indentation
//!   (go-yaml does not check it), e.g. a closing `]'` or `]` at the key's indentation.
//! - **JSON**: a file whose first character after white space is `{` is a stream of JSON
//!   objects, as kubectl reads it (`{…}{…}` are two documents), with Go's strict JSON rules.
//!   Surrogate-pair escapes decode to their character; a lone surrogate is an error. (In
//!   double-quoted YAML scalars go-yaml refuses surrogate escapes, and so does ws3.)
//! - **Nulls**: a mapping entry whose value is null (`tier: null`, `~`, nothing at all) is left
//!   out of the JSON rules see (see [`write`] for how this compares with kubectl's typed
//!   decoding); nulls inside sequences stay.
//! - **Duplicate keys** are errors naming the key and both lines, at any depth (kubectl's strict
//!   decoding refuses duplicate fields; go-yaml alone would let the last one win). `<<` merges
//!   are not duplicates: keys written in the mapping win over merged ones.
//! - **Line breaks** are `\n`, `\r\n` and a lone `\r`, in the parser and in every line count
//!   ([`crate::input::SourceFile`]). go-yaml also breaks lines at U+0085, U+2028 and U+2029; ws3
//!   reads those as ordinary characters (a key hidden behind one makes a syntax error rather
//!   than a second key).
//!
//! # Limits
//!
//! - Aliases and anchors cost the memory their copies take, paid from an [`ExpansionBudget`]
//!   before the copy is made ([`DEFAULT_EXPANSION_LIMIT`], 128 MiB, for all the files of one
//!   run when they share a budget through [`parse_stream_with`]): a "billion laughs" file stops
//!   with an error naming its document instead of exhausting memory.
//! - Nesting deeper than 512 levels is an error.
//! - After a syntax error the rest of the file is not read; the documents before it are kept,
//!   and the error says so.

pub mod node;

mod fast;
mod json;
mod loader;
mod repair;
mod resolve;
mod write;

use std::sync::atomic::{AtomicUsize, Ordering};

use saphyr_parser::{Event, Parser};

use self::{
    loader::Loader,
    repair::{Remap, pad_flow_collection, pad_quoted_scalar},
};
pub use self::{
    node::{Document, Entry, Node, NodeKind, Pos, Resolved, Scalar, ScalarStyle, Span},
    resolve::resolve_plain,
    write::{write_json, write_json_str},
};

/// The default for [`ExpansionBudget`]: 128 MiB of copies made by anchors and aliases.
pub const DEFAULT_EXPANSION_LIMIT: usize = 128 << 20;

/// Most bytes parsed again, per file, to repair quoted scalars (see `repair`).
const REPARSE_BYTES: usize = 64 << 20;

/// How much memory anchors and aliases may take with their copies, shared by every file parsed
/// with it (from several threads too). A copy is paid for before it is made; once the budget
/// is spent, every further alias is an error.
#[derive(Debug)]
pub struct ExpansionBudget {
    left: AtomicUsize,
    limit: usize,
}

impl ExpansionBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            left: AtomicUsize::new(limit),
            limit,
        }
    }

    /// The limit it was made with.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `bytes`, or nothing and `false` when fewer are left.
    fn take(&self, bytes: usize) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }

    /// Gives back what a parse that is done again took.
    fn give_back(&self, bytes: usize) {
        let _ = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_add(bytes).min(self.limit))
            });
    }
}

impl Default for ExpansionBudget {
    fn default() -> Self {
        Self::new(DEFAULT_EXPANSION_LIMIT)
    }
}

/// A file that is not valid YAML (or uses YAML Kubernetes cannot read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Where: line from 1, column from 1.
    pub line: usize,
    /// Column from 1.
    pub column: usize,
    /// The document it is in, from 1.
    pub document: usize,
    /// What is wrong (never quotes a value), ending with a note that the rest of the file is
    /// not read.
    pub message: String,
}

impl YamlError {
    fn new(at: Pos, document: usize, message: String) -> Self {
        Self {
            line: at.line,
            column: at.col + 1,
            document,
            message: format!(
                "{message}; the rest of the file (from line {}) is not linted",
                at.line
            ),
        }
    }
}

/// What [`parse_stream`] read: every complete document before an error, and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    /// The documents read.
    pub documents: Vec<Document>,
    /// The syntax error that stopped reading, if any.
    pub error: Option<YamlError>,
    /// Whether the file was read as a stream of JSON objects (it starts with `{`).
    pub json: bool,
}

/// Parses every document of a YAML text, or of a JSON stream (see the module documentation),
/// with an expansion budget of its own.
pub fn parse_stream(text: &str) -> Stream {
    parse_stream_with(text, &ExpansionBudget::default())
}

/// Parses every document of a text, paying for anchors and aliases from `budget` (share one
/// budget between the files of a run to bound them together).
pub fn parse_stream_with(text: &str, budget: &ExpansionBudget) -> Stream {
    if json::is_json_stream(text) {
        return json::parse_stream(text);
    }
    // Most manifests take the fast path; it answers only when it reads the text exactly as the
    // general path does (see `fast`).
    if let Some(stream) = fast::parse(text) {
        return stream;
    }
    parse_stream_general(text, budget)
}

/// What the fast path, when it answers, must agree with: the files the general path reads.
/// `None` when the fast path does not read `text` (for the differential tests and fuzz check).
pub fn parse_fast(text: &str) -> Option<Stream> {
    if json::is_json_stream(text) {
        return None;
    }
    fast::parse(text)
}

/// Parses a YAML text with the general path only (the parser and the loader, with repairs),
/// paying for anchors and aliases from `budget`.
pub fn parse_stream_general(text: &str, budget: &ExpansionBudget) -> Stream {
    if json::is_json_stream(text) {
        return json::parse_stream(text);
    }
    let mut padded: Option<String> = None;
    let mut remap = Remap::default();
    let mut parsed = 0;
    loop {
        let source = padded.as_deref().unwrap_or(text);
        parsed += source.len();
        let (stream, charged, hint) = parse_yaml(source, budget, &remap);
        let Some(hint) = hint else {
            return stream;
        };
        match hint.repair(source) {
            Some((fixed, lines)) if parsed + fixed.len() <= REPARSE_BYTES.max(2 * text.len()) => {
                budget.give_back(charged);
                repair::record(&mut remap, &lines);
                padded = Some(fixed);
            }
            _ => return stream,
        }
    }
}

/// Where a parse stopped for indentation go-yaml does not check (character indices).
struct RepairHint {
    /// The parser's message.
    info: String,
    /// Where it stopped.
    at: usize,
    /// Where the last node read ends.
    last_end: usize,
    /// The outermost flow collection being read, if any.
    open_flow: Option<usize>,
}

impl RepairHint {
    /// The padded text, when the stop is inside a quoted scalar or a flow collection whose
    /// extent is certain.
    fn repair(&self, text: &str) -> Option<(String, Vec<(usize, usize)>)> {
        let at = repair::byte_offset(text, self.at);
        let quoted = || match self.info.as_str() {
            // The parser points at the opening quote.
            "invalid indentation in quoted scalar" => pad_quoted_scalar(text, at, at + 1),
            "tab cannot be used as indentation" => {
                pad_quoted_scalar(text, repair::byte_offset(text, self.last_end), at)
            }
            _ => None,
        };
        let flow = || {
            let open = repair::byte_offset(text, self.open_flow?);
            pad_flow_collection(text, open, at)
        };
        quoted().or_else(flow)
    }
}

/// One parse. Returns what it read, what it took from the budget, and, when it stopped for an
/// indentation go-yaml accepts, where and in what.
fn parse_yaml(
    text: &str,
    budget: &ExpansionBudget,
    remap: &Remap,
) -> (Stream, usize, Option<RepairHint>) {
    let mut loader = Loader::new(text, budget, remap);
    let mut parser = Parser::new_from_str(text);
    let mut documents = Vec::new();
    let stop = |loader: &Loader<'_>, documents: Vec<Document>, at: Pos, message: String| Stream {
        documents,
        error: Some(YamlError::new(at, loader.current_document(), message)),
        json: false,
    };
    while let Some(event) = parser.next_event() {
        match event {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, span)) => match loader.event(event, &span) {
                Ok(Some(doc)) => documents.push(doc),
                Ok(None) => {}
                Err(e) => {
                    let charged = loader.charged;
                    return (stop(&loader, documents, e.at, e.message), charged, None);
                }
            },
            Err(e) => {
                let at = loader.pos(e.marker());
                let info = e.info().to_owned();
                let hint = matches!(
                    info.as_str(),
                    "invalid indentation in quoted scalar"
                        | "tab cannot be used as indentation"
                        | "invalid indentation"
                        | "invalid indentation in flow construct"
                )
                .then(|| RepairHint {
                    info: info.clone(),
                    at: e.marker().index(),
                    last_end: loader.last_end,
                    open_flow: loader.open_flow.map(|(start, _)| start),
                });
                let charged = loader.charged;
                return (stop(&loader, documents, at, info), charged, hint);
            }
        }
    }
    let charged = loader.charged;
    (
        Stream {
            documents,
            error: None,
            json: false,
        },
        charged,
        None,
    )
}

#[cfg(test)]
mod tests;
