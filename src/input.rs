//! Finding and reading the files to lint.
//!
//! Files are taken as given; directories are walked recursively for `*.yaml`, `*.yml` and
//! `*.json` (in name order, skipping hidden entries and symlinked directories); `-` is standard
//! input, named `<stdin>`. The same file given twice is read once.

use std::{
    collections::HashSet,
    fs,
    io::Read,
    path::{Path, PathBuf},
};

use crate::error::{Notice, Problem};

/// The name standard input is shown as.
pub const STDIN_NAME: &str = "<stdin>";

/// One input file with its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in output: the path as given, or `<stdin>`.
    pub name: String,
    /// The text (a UTF-8 byte-order mark removed).
    pub text: String,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file from its name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let line_starts = std::iter::once(0).chain(memchr_newlines(&text)).collect();
        Self {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// Line `n` (from 1) without its line break, if the file has it.
    pub fn line(&self, n: usize) -> Option<&str> {
        let start = *self.line_starts.get(n.checked_sub(1)?)?;
        let end = self.line_starts.get(n).copied().unwrap_or(self.text.len());
        let line = &self.text[start..end];
        let line = line.strip_suffix('\n').unwrap_or(line);
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    /// How many lines the file has.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

fn memchr_newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

/// What the command line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file to lint whatever its extension.
    File(PathBuf),
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// Inputs in order.
    pub inputs: Vec<Input>,
    /// Paths that cannot be read.
    pub problems: Vec<Problem>,
    /// Directories without manifests.
    pub notices: Vec<Notice>,
}

/// Whether a file found in a directory is linted.
fn is_manifest(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Expands the command-line paths into inputs.
pub fn discover(paths: &[PathBuf]) -> Discovered {
    let mut found = Discovered::default();
    let mut seen = HashSet::new();
    let mut stdin_seen = false;
    for path in paths {
        if path.as_os_str() == "-" {
            if !stdin_seen {
                stdin_seen = true;
                found.inputs.push(Input::Stdin);
            }
            continue;
        }
        match fs::metadata(path) {
            Err(e) => found.problems.push(Problem::io(
                path.display().to_string(),
                format!("cannot read: {}", io_reason(&e)),
            )),
            Ok(meta) if meta.is_dir() => {
                let before = found.inputs.len();
                walk(path, &mut found, &mut seen);
                if found.inputs.len() == before {
                    found.notices.push(Notice {
                        file: Some(path.display().to_string()),
                        document: None,
                        message: "no *.yaml, *.yml or *.json files in this directory".into(),
                    });
                }
            }
            Ok(_) => add_file(path.clone(), &mut found, &mut seen),
        }
    }
    found
}

fn add_file(path: PathBuf, found: &mut Discovered, seen: &mut HashSet<PathBuf>) {
    let key = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if seen.insert(key) {
        found.inputs.push(Input::File(path));
    }
}

fn walk(dir: &Path, found: &mut Discovered, seen: &mut HashSet<PathBuf>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            found.problems.push(Problem::io(
                dir.display().to_string(),
                format!("cannot read directory: {}", io_reason(&e)),
            ));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            walk(&path, found, seen);
        } else if is_manifest(&path) && (file_type.is_file() || path.is_file()) {
            add_file(path, found, seen);
        }
    }
}

/// An I/O error without the "(os error N)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Reads the inputs. Unreadable files and files that are not UTF-8 become problems.
pub fn read(inputs: &[Input], stdin: &mut dyn Read) -> (Vec<SourceFile>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for input in inputs {
        let (name, bytes) = match input {
            Input::Stdin => {
                let mut bytes = Vec::new();
                (
                    STDIN_NAME.to_owned(),
                    stdin.read_to_end(&mut bytes).map(|_| bytes),
                )
            }
            Input::File(path) => (path.display().to_string(), fs::read(path)),
        };
        match bytes {
            Err(e) => problems.push(Problem::io(name, format!("cannot read: {}", io_reason(&e)))),
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push(SourceFile::new(name, text)),
                Err(e) => {
                    let at = e.utf8_error().valid_up_to();
                    let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                    let mut p = Problem::io(name, "not UTF-8 text");
                    p.kind = crate::error::ProblemKind::Syntax;
                    p.line = Some(line);
                    problems.push(p);
                }
            },
        }
    }
    (files, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_without_breaks_and_bom() {
        let f = SourceFile::new("x", "\u{feff}a: 1\r\nb: 2\nc");
        assert_eq!(f.line(1), Some("a: 1"));
        assert_eq!(f.line(2), Some("b: 2"));
        assert_eq!(f.line(3), Some("c"));
        assert_eq!(f.line(4), None);
        assert_eq!(f.line(0), None);
        assert_eq!(f.line_count(), 3);
    }

    #[test]
    fn walks_directories_in_order_and_skips_hidden_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::create_dir_all(root.join(".git")).unwrap();
        for f in [
            "a.yaml",
            "b/z.yml",
            "b/c/x.JSON",
            "b/readme.md",
            ".hidden.yaml",
            ".git/x.yaml",
        ] {
            fs::write(root.join(f), "").unwrap();
        }
        let found = discover(&[
            root.to_path_buf(),
            root.join("a.yaml"),
            "-".into(),
            "-".into(),
        ]);
        let names: Vec<String> = found
            .inputs
            .iter()
            .map(|i| match i {
                Input::Stdin => "-".into(),
                Input::File(p) => p.strip_prefix(root).unwrap().display().to_string(),
            })
            .collect();
        assert_eq!(names, ["a.yaml", "b/c/x.JSON", "b/z.yml", "-"]);
        assert!(found.problems.is_empty());
    }

    #[test]
    fn missing_paths_and_bad_encoding_are_problems() {
        let dir = tempfile::tempdir().unwrap();
        let found = discover(&[dir.path().join("nope.yaml")]);
        assert_eq!(found.problems.len(), 1);
        assert!(
            found.problems[0].message.contains("cannot read"),
            "{:?}",
            found.problems
        );
        let bad = dir.path().join("bad.yaml");
        fs::write(&bad, b"a: 1\nb: \xff\n").unwrap();
        let (files, problems) = read(&[Input::File(bad)], &mut std::io::empty());
        assert!(files.is_empty());
        assert_eq!(problems[0].line, Some(2));
    }
}
