//! `cargo xtask loc`: lines of logic of each rule crate and of the SDK's modules.
//!
//! A line of logic is a line of Rust under `src/` that is not blank, not only a comment (`//`,
//! `///`, `//!`, `/* */`) and not part of tests: files named `tests.rs` and every item after
//! `#[cfg(test)]` (a `mod tests { .. }`, `mod tests;` or a test-only function) are left out.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Lines of logic of one Rust source text.
pub fn count(source: &str) -> usize {
    let mut lexer = Lexer::default();
    // The `#[cfg(test)]` item being skipped: `Some(depth)` in braces, `None` outside one.
    let mut skipping: Option<usize> = None;
    let mut logic = 0;
    for line in source.lines() {
        let in_string = lexer.in_string.is_some();
        let (code, marks) = lexer.line(line);
        if let Some(mut depth) = skipping {
            for mark in marks {
                match mark {
                    b'{' => depth += 1,
                    b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                // An item ends with its outermost `}` or a `;` outside braces (`mod tests;`).
                if depth == 0 && (mark == b'}' || mark == b';') {
                    skipping = None;
                    break;
                }
            }
            if let Some(s) = skipping.as_mut() {
                *s = depth;
            }
            continue;
        }
        if line.trim() == "#[cfg(test)]" && !in_string {
            skipping = Some(0);
            continue;
        }
        if code {
            logic += 1;
        }
    }
    logic
}

/// A line-by-line Rust lexer that knows just enough to tell code from comments and to find the
/// braces and semicolons outside strings, chars and comments.
#[derive(Default)]
struct Lexer {
    in_block_comment: bool,
    /// Inside a string literal: the number of `#`s of a raw string, or [`COOKED`].
    in_string: Option<usize>,
}

/// The "hash count" of an ordinary (escaped) string literal.
const COOKED: usize = usize::MAX;

impl Lexer {
    /// Lexes one line: whether it has code, and its `{`, `}` and `;` in order.
    fn line(&mut self, line: &str) -> (bool, Vec<u8>) {
        let b = line.as_bytes();
        let mut code = false;
        let mut marks = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if self.in_block_comment {
                if b[i..].starts_with(b"*/") {
                    self.in_block_comment = false;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if let Some(hashes) = self.in_string {
                code = true;
                if hashes == COOKED {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            self.in_string = None;
                            i += 1;
                        }
                        _ => i += 1,
                    }
                } else if b[i] == b'"'
                    && b[i + 1..].iter().take_while(|&&c| c == b'#').count() >= hashes
                {
                    self.in_string = None;
                    i += 1 + hashes;
                } else {
                    i += 1;
                }
                continue;
            }
            match b[i] {
                b' ' | b'\t' => i += 1,
                b'/' if b.get(i + 1) == Some(&b'/') => break,
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    self.in_block_comment = true;
                    i += 2;
                }
                b'"' => {
                    self.in_string = Some(COOKED);
                    code = true;
                    i += 1;
                }
                b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                    && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_') =>
                {
                    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                    code = true;
                    if b.get(i + 1 + hashes) == Some(&b'"') {
                        self.in_string = Some(hashes);
                        i += 2 + hashes;
                    } else {
                        i += 1;
                    }
                }
                b'\'' => {
                    code = true;
                    // A char literal ('x', '\n', '{'); otherwise a lifetime or a label.
                    if b.get(i + 1) == Some(&b'\\') {
                        i += 2;
                        while i < b.len() && b[i] != b'\'' {
                            i += 1;
                        }
                        i += 1;
                    } else if b.get(i + 2) == Some(&b'\'') {
                        i += 3;
                    } else {
                        i += 1;
                    }
                }
                c => {
                    code = true;
                    if matches!(c, b'{' | b'}' | b';') {
                        marks.push(c);
                    }
                    i += 1;
                }
            }
        }
        (code, marks)
    }
}

/// The Rust files under `dir`, sorted, without `tests.rs`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            sources(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// Each file of a crate's `src/` with its lines of logic, and the total.
pub fn crate_lines(crate_dir: &Path) -> Result<(Vec<(String, usize)>, usize)> {
    let src = crate_dir.join("src");
    let mut files = Vec::new();
    sources(&src, &mut files)?;
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let rel = file.strip_prefix(&src).unwrap_or(&file);
        out.push((rel.display().to_string(), count(&text)));
    }
    let total = out.iter().map(|(_, n)| n).sum();
    Ok((out, total))
}

/// Prints the lines of logic of each rule crate and of the SDK.
pub fn report(root: &Path, rules: &[(String, PathBuf)]) -> Result<()> {
    let sdk = root.join("policies/sdk");
    for (name, dir) in rules
        .iter()
        .map(|(id, dir)| (id.as_str(), dir.as_path()))
        .chain([("ws3-policy-sdk", sdk.as_path())])
    {
        let (files, total) = crate_lines(dir)?;
        let detail: Vec<String> = files.iter().map(|(f, n)| format!("{f} {n}")).collect();
        println!("{name:<36} {total:>5}  ({})", detail.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn comments_blank_lines_and_test_modules_are_not_logic() {
        let src = r##"//! Crate docs.

/// A doc comment.
fn a() -> &'static str {
    // a comment
    let s = "{ // not a comment";
    /* block
       comment */
    let r = r#"}"
    still a string {"#;
    let c = '{';
    s
}

#[cfg(test)]
mod tests {
    fn t() {
        let x = "}";
    }
}

#[cfg(test)]
mod more;

#[cfg(test)]
fn helper() {}

fn b() {}
"##;
        // fn a, let s, let r (2 lines), let c, s, }, fn b
        assert_eq!(count(src), 8);
    }
}
