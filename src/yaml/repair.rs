//! Quoted scalars and flow collections whose lines are less indented than YAML 1.2 allows.
//!
//! YAML 1.2 wants every continuation line of a multi-line quoted scalar or flow collection
//! (`[`, `{`) indented past its key. libyaml, and go-yaml (its Go port, which kubectl reads
//! manifests with), do not check that indentation at all. Kubernetes' own e2e redis
//! StatefulSet has such a scalar: an annotation holding JSON whose closing `]'` sits at the
//! key's indentation; JSON-style YAML often closes `]` or `}` at the key's indentation.
//!
//! The parser refuses those lines. Inside a quoted scalar or a flow collection the leading
//! white space of a line means nothing, so indenting those lines does not change what is read:
//! when the parser stops there for the indentation, [`pad_quoted_scalar`] or
//! [`pad_flow_collection`] indents the lines after the opening quote or bracket as deep as it,
//! and the text is parsed again. [`Remap`] takes positions in the padded text back to the
//! file's. Where the extent of the scalar or collection is not certain, nothing is padded and
//! the error stands.

use std::collections::BTreeMap;

use super::node::Pos;

/// Columns added at the start of lines: positions in a padded text back to the file's.
#[derive(Debug, Default, Clone)]
pub(super) struct Remap {
    /// Line → columns added at its start.
    shifts: BTreeMap<usize, usize>,
}

impl Remap {
    /// The file position of line `line`, column `col` of the padded text.
    pub(super) fn pos(&self, line: usize, col: usize) -> Pos {
        let shift = if self.shifts.is_empty() {
            0
        } else {
            self.shifts.get(&line).copied().unwrap_or(0)
        };
        Pos {
            line,
            col: col.saturating_sub(shift),
        }
    }

    fn add(&mut self, line: usize, columns: usize) {
        *self.shifts.entry(line).or_default() += columns;
    }
}

/// Most bytes of spaces one repair may add.
const MAX_PADDING: usize = 16 << 20;

/// Whether a line break starts at `i`: `\n`, `\r\n` or a lone `\r` (as the parser counts lines).
fn break_len(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'\n') => 1,
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => 2,
        Some(b'\r') => 1,
        _ => 0,
    }
}

/// The opening quote of the scalar the parser stopped in: the first quote after `from` (the end
/// of the last node it read) that is not in a comment, an anchor or a tag.
fn opening_quote(b: &[u8], from: usize, error_at: usize) -> Option<usize> {
    let mut i = from;
    while i < error_at.min(b.len()) {
        match b[i] {
            b'\'' | b'"' => return Some(i),
            b'#' if i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                while i < b.len() && break_len(b, i) == 0 {
                    i += 1;
                }
            }
            b'&' | b'!' => {
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The closing quote of the scalar opened at `open`.
fn closing_quote(b: &[u8], open: usize) -> Option<usize> {
    let quote = b[open];
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A line that starts a document (`---`) or ends one (`...`): go-yaml refuses those inside a
/// quoted scalar too, so they are not padded away.
fn is_document_marker(line: &[u8]) -> bool {
    (line.starts_with(b"---") || line.starts_with(b"..."))
        && matches!(line.get(3), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
}

/// The text with the continuation lines of the quoted scalar that holds `error_at` indented as
/// deep as its opening quote, and the lines padded (with how many columns). `None` when
/// `error_at` is not inside a quoted scalar after `from`, or the scalar cannot be repaired.
pub(super) fn pad_quoted_scalar(
    text: &str,
    from: usize,
    error_at: usize,
) -> Option<(String, Vec<(usize, usize)>)> {
    let b = text.as_bytes();
    let open = opening_quote(b, from, error_at)?;
    let close = closing_quote(b, open)?;
    pad_between(text, open, close, error_at)
}

/// The closing bracket of the flow collection opened at `open`; `None` when a quote appears
/// where it may be part of a plain scalar (`[it's]`), so that the extent is not certain.
fn closing_bracket(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut previous = b' ';
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        match c {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'\'' | b'"' if matches!(previous, b'[' | b'{' | b',' | b':' | b'?') => {
                i = closing_quote(b, i)? + 1;
                previous = c;
                continue;
            }
            b'\'' | b'"' => return None,
            b'#' if matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r') => {
                while i < b.len() && break_len(b, i) == 0 {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            previous = c;
        }
        i += 1;
    }
    None
}

/// The text with the lines of the flow collection opened at `open` (a byte offset) that holds
/// `error_at` indented as deep as its opening bracket.
pub(super) fn pad_flow_collection(
    text: &str,
    open: usize,
    error_at: usize,
) -> Option<(String, Vec<(usize, usize)>)> {
    let b = text.as_bytes();
    if !matches!(b.get(open), Some(b'[' | b'{')) {
        return None;
    }
    let close = closing_bracket(b, open)?;
    pad_between(text, open, close, error_at)
}

/// Indents the lines that start after `open` and up to `close` as deep as `open`'s column.
fn pad_between(
    text: &str,
    open: usize,
    close: usize,
    error_at: usize,
) -> Option<(String, Vec<(usize, usize)>)> {
    let b = text.as_bytes();
    if !(open < error_at && error_at <= close) {
        return None;
    }
    // Line and column (in characters) of the opening quote or bracket.
    let mut line = 1;
    let mut line_start = 0;
    let mut i = 0;
    while i < open {
        match break_len(b, i) {
            0 => i += 1,
            n => {
                i += n;
                line += 1;
                line_start = i;
            }
        }
    }
    let column = text[line_start..open].chars().count();
    let mut out = String::with_capacity(text.len() + 256);
    let mut padded = Vec::new();
    let mut copied = 0;
    let mut i = open;
    while i < close {
        match break_len(b, i) {
            0 => i += 1,
            n => {
                i += n;
                line += 1;
                if is_document_marker(&b[i..]) {
                    return None;
                }
                out.push_str(&text[copied..i]);
                copied = i;
                if (padded.len() + 1) * column > MAX_PADDING {
                    return None;
                }
                out.extend(std::iter::repeat_n(' ', column));
                padded.push((line, column));
            }
        }
    }
    if padded.is_empty() || column == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some((out, padded))
}

/// The byte offset of character `index` of `text`.
pub(super) fn byte_offset(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(i, _)| i)
}

/// Adds the padding of one repair to a remap.
pub(super) fn record(remap: &mut Remap, padded: &[(usize, usize)]) {
    for &(line, columns) in padded {
        remap.add(line, columns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_the_continuation_lines_of_the_scalar_only() {
        let text = "a:\n  b: '[\n      x\n  ]'\nc: \"q\n\"\n";
        let (out, padded) = pad_quoted_scalar(text, 6, 21).expect("repaired");
        assert_eq!(out, "a:\n  b: '[\n           x\n       ]'\nc: \"q\n\"\n");
        assert_eq!(padded, vec![(3, 5), (4, 5)]);
        let mut remap = Remap::default();
        record(&mut remap, &padded);
        assert_eq!(remap.pos(4, 7), Pos { line: 4, col: 2 });
        assert_eq!(remap.pos(5, 3), Pos { line: 5, col: 3 });
    }

    #[test]
    fn skips_comments_tags_and_anchors_and_refuses_what_is_not_a_quoted_scalar() {
        let text = "a: &x !!str # it's\n  \"one\n two\"\n";
        let (out, _) = pad_quoted_scalar(text, 1, 26).expect("repaired");
        assert_eq!(out, "a: &x !!str # it's\n  \"one\n   two\"\n");
        // The error is not inside the scalar found.
        assert_eq!(pad_quoted_scalar("a: 'x'\nb: 1\n", 1, 9), None);
        // A document marker inside stays an error.
        assert_eq!(pad_quoted_scalar("a: 'x\n---\n'\n", 1, 7), None);
        // Escaped quotes do not close.
        let (out, _) = pad_quoted_scalar("a: \"x\\\"\ny\"\n", 1, 8).expect("repaired");
        assert_eq!(out, "a: \"x\\\"\n   y\"\n");
    }

    #[test]
    fn pads_a_flow_collection_to_its_closing_bracket_and_no_further() {
        let text = "a:\n  m: [\n  x, {k: 'v]'},\n  ]\nb: 1\n";
        let (out, padded) = pad_flow_collection(text, 8, 14).expect("repaired");
        assert_eq!(out, "a:\n  m: [\n       x, {k: 'v]'},\n       ]\nb: 1\n");
        assert_eq!(padded, vec![(3, 5), (4, 5)]);
        // A quote that may belong to a plain scalar: the extent is not certain.
        assert_eq!(pad_flow_collection("a: [\nit's]\n", 3, 6), None);
        assert_eq!(byte_offset("é😀x", 2), 6);
    }
}
