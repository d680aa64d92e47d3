//! Files that start with `{`: a stream of JSON objects, read as kubectl reads them.
//!
//! kubectl (`k8s.io/apimachinery`'s `YAMLOrJSONDecoder`) reads a file whose first character
//! after white space is `{` with Go's JSON decoder, value after value: `{…}{…}` and
//! `{…}\n{…}` are several objects. Like Go's decoder this reader is strict JSON (no comments,
//! no trailing commas, no single quotes); JSON surrogate-pair escapes (`"\ud83d\ude00"`, what
//! Python's `json.dumps` writes for an emoji) decode to the character. Unlike Go, which puts
//! U+FFFD in its place, a lone surrogate escape is an error: it stands for no character. A key
//! written twice in one object is an error, as in kubectl's strict decoding.

use super::{
    Stream, YamlError,
    loader::{LoadError, LoadResult, MAX_DEPTH, MapBuilder},
    node::{Document, Node, NodeKind, Pos, Resolved, Scalar, ScalarStyle, Span},
    resolve::resolve_plain,
};

/// Whether kubectl reads `text` as JSON: its first character after white space is `{`.
pub(super) fn is_json_stream(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Reads every JSON value of the text as one document.
pub(super) fn parse_stream(text: &str) -> Stream {
    let mut reader = Reader {
        b: text.as_bytes(),
        text,
        i: 0,
        line: 1,
        col: 0,
        depth: 0,
    };
    let mut documents = Vec::new();
    loop {
        reader.skip_ws();
        if reader.i >= reader.b.len() {
            return Stream {
                documents,
                error: None,
                json: true,
            };
        }
        let index = documents.len() + 1;
        match reader.value() {
            Ok(root) => documents.push(Document {
                index,
                start: root.span.start,
                end: root.span.end,
                root: Some(root),
            }),
            Err(LoadError { at, message }) => {
                return Stream {
                    documents,
                    error: Some(YamlError::new(at, index, message)),
                    json: true,
                };
            }
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    text: &'a str,
    /// Byte offset.
    i: usize,
    line: usize,
    /// Column in characters.
    col: usize,
    depth: usize,
}

fn err<T>(at: Pos, message: impl Into<String>) -> LoadResult<T> {
    Err(LoadError {
        at,
        message: message.into(),
    })
}

impl Reader<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Moves past one byte that is not a line break.
    fn bump(&mut self) {
        // UTF-8 continuation bytes do not start a character.
        if self.b[self.i] & 0xc0 != 0x80 {
            self.col += 1;
        }
        self.i += 1;
    }

    /// JSON white space: space, tab, and line breaks (`\n`, `\r\n`, a lone `\r`).
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => self.bump(),
                b'\n' => self.newline(1),
                b'\r' if self.b.get(self.i + 1) == Some(&b'\n') => self.newline(2),
                b'\r' => self.newline(1),
                _ => break,
            }
        }
    }

    fn newline(&mut self, len: usize) {
        self.i += len;
        self.line += 1;
        self.col = 0;
    }

    fn unexpected<T>(&self, expected: &str) -> LoadResult<T> {
        match self.text[self.i..].chars().next() {
            None => err(
                self.pos(),
                format!("unexpected end of file, expected {expected}"),
            ),
            Some(c) => err(
                self.pos(),
                format!(
                    "unexpected character `{}`, expected {expected}",
                    c.escape_default()
                ),
            ),
        }
    }

    fn value(&mut self) -> LoadResult<Node> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let (value, span) = self.string()?;
                Ok(scalar(
                    value,
                    ScalarStyle::DoubleQuoted,
                    Resolved::Str,
                    span,
                ))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't' | b'f' | b'n') => self.literal(),
            _ => self.unexpected("a JSON value"),
        }
    }

    fn enter(&mut self) -> LoadResult<Pos> {
        let start = self.pos();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(start, format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.bump();
        Ok(start)
    }

    fn object(&mut self) -> LoadResult<Node> {
        let start = self.enter()?;
        let mut builder = MapBuilder::default();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return self.unexpected("`\"` (an object key)");
                }
                let (key, span) = self.string()?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return self.unexpected("`:` after an object key");
                }
                self.bump();
                self.skip_ws();
                let value = self.value()?;
                let key = scalar(key, ScalarStyle::DoubleQuoted, Resolved::Str, span);
                builder.add(key, value)?;
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.bump(),
                    Some(b'}') => {
                        self.bump();
                        break;
                    }
                    _ => return self.unexpected("`,` or `}`"),
                }
            }
        }
        self.depth -= 1;
        Ok(Node {
            kind: NodeKind::Map(builder.finish()),
            span: Span {
                start,
                end: self.pos(),
            },
        })
    }

    fn array(&mut self) -> LoadResult<Node> {
        let start = self.enter()?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
        } else {
            loop {
                self.skip_ws();
                items.push(self.value()?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.bump(),
                    Some(b']') => {
                        self.bump();
                        break;
                    }
                    _ => return self.unexpected("`,` or `]`"),
                }
            }
        }
        self.depth -= 1;
        Ok(Node {
            kind: NodeKind::Seq(items),
            span: Span {
                start,
                end: self.pos(),
            },
        })
    }

    fn literal(&mut self) -> LoadResult<Node> {
        let start = self.pos();
        let rest = &self.b[self.i..];
        let (word, resolved) = if rest.starts_with(b"true") {
            ("true", Resolved::Bool(true))
        } else if rest.starts_with(b"false") {
            ("false", Resolved::Bool(false))
        } else if rest.starts_with(b"null") {
            ("null", Resolved::Null)
        } else {
            return self.unexpected("a JSON value");
        };
        for _ in 0..word.len() {
            self.bump();
        }
        Ok(scalar(
            word.to_owned(),
            ScalarStyle::Plain,
            resolved,
            Span {
                start,
                end: self.pos(),
            },
        ))
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`
    fn number(&mut self) -> LoadResult<Node> {
        let start = self.pos();
        let from = self.i;
        let digits = |r: &mut Self| {
            let n = r.b[r.i..].iter().take_while(|c| c.is_ascii_digit()).count();
            for _ in 0..n {
                r.bump();
            }
            n
        };
        if self.peek() == Some(b'-') {
            self.bump();
        }
        let int_start = self.i;
        match digits(self) {
            0 => return self.unexpected("a digit"),
            n if n > 1 && self.b[int_start] == b'0' => {
                return err(start, "a JSON number cannot start with 0");
            }
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.bump();
            if digits(self) == 0 {
                return self.unexpected("a digit after `.`");
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.bump();
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.bump();
            }
            if digits(self) == 0 {
                return self.unexpected("a digit in the exponent");
            }
        }
        let text = &self.text[from..self.i];
        // Integers as integers (as kubectl's decoding into unstructured objects keeps them),
        // everything else as a float.
        let resolved = match resolve_plain(text) {
            r @ (Resolved::Int(_) | Resolved::Uint(_) | Resolved::Float(_)) => r,
            _ => Resolved::Float(text.parse().unwrap_or(f64::NAN)),
        };
        Ok(scalar(
            text.to_owned(),
            ScalarStyle::Plain,
            resolved,
            Span {
                start,
                end: self.pos(),
            },
        ))
    }

    fn hex4(&mut self) -> LoadResult<u32> {
        let at = self.pos();
        let digits = self.b.get(self.i..self.i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()))
        });
        let Some(digits) = digits else {
            return err(at, "`\\u` must be followed by four hexadecimal digits");
        };
        let code = u32::from_str_radix(digits, 16).unwrap_or(0);
        for _ in 0..4 {
            self.bump();
        }
        Ok(code)
    }

    /// A string literal: its value and span (quotes included).
    fn string(&mut self) -> LoadResult<(String, Span)> {
        let start = self.pos();
        self.bump();
        let mut out = String::new();
        loop {
            // Copy the run of ordinary characters at once.
            let run = self.b[self.i..]
                .iter()
                .take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20)
                .count();
            out.push_str(&self.text[self.i..self.i + run]);
            self.col += self.text[self.i..self.i + run].chars().count();
            self.i += run;
            match self.peek() {
                None => return err(start, "unexpected end of file inside a string"),
                Some(b'"') => {
                    self.bump();
                    break;
                }
                Some(b'\\') => {
                    let at = self.pos();
                    self.bump();
                    let Some(c) = self.peek() else {
                        return err(at, "unexpected end of file inside a string");
                    };
                    let simple = match c {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => return err(at, "unknown escape in a string"),
                    };
                    self.bump();
                    if let Some(c) = simple {
                        out.push(c);
                        continue;
                    }
                    let high = self.hex4()?;
                    let code = match high {
                        0xd800..=0xdbff => {
                            if !self.b[self.i..].starts_with(b"\\u") {
                                return err(at, LONE_SURROGATE);
                            }
                            self.bump();
                            self.bump();
                            let low = self.hex4()?;
                            if !(0xdc00..=0xdfff).contains(&low) {
                                return err(at, LONE_SURROGATE);
                            }
                            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                        }
                        0xdc00..=0xdfff => return err(at, LONE_SURROGATE),
                        code => code,
                    };
                    match char::from_u32(code) {
                        Some(c) => out.push(c),
                        None => return err(at, LONE_SURROGATE),
                    }
                }
                Some(_) => {
                    return err(
                        self.pos(),
                        "a control character (a line break, a tab...) inside a string must be escaped",
                    );
                }
            }
        }
        Ok((
            out,
            Span {
                start,
                end: self.pos(),
            },
        ))
    }
}

const LONE_SURROGATE: &str = "a `\\u` escape names half of a UTF-16 surrogate pair without the other half (a lone surrogate is no character)";

fn scalar(value: String, style: ScalarStyle, resolved: Resolved, span: Span) -> Node {
    Node {
        kind: NodeKind::Scalar(Scalar {
            value,
            style,
            tag: None,
            resolved,
        }),
        span,
    }
}
