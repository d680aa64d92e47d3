//! Finding and reading the files to lint.
//!
//! A path named on the command line is read whatever its name, hidden or not; `-` is standard
//! input, named `<stdin>`. Directories are walked with the `ignore` crate (ripgrep's walker),
//! in name order, for `*.yaml`, `*.yml` and `*.json`:
//! - `.gitignore` (inside a git repository), `.ignore` and `.git/info/exclude` are honoured,
//!   so a gitignored `target/` or `node_modules/` is not walked; the user's global git
//!   excludes are not read, so that a run gives the same result on every machine;
//! - hidden entries (names starting with `.`) below a named directory are skipped and counted
//!   ([`Discovery::hidden_skipped`]); `.git` is skipped without being counted;
//! - symbolic links are not followed into directories (a notice says so); a link to a file is
//!   read; a broken link, a FIFO, a socket or a device with a manifest's name is a problem.
//!
//! Only regular files are read, at most [`MAX_FILE_BYTES`] each (standard input too): the type
//! is checked before a file is opened, so a FIFO never blocks the run. The same file given
//! twice is read once.

use std::{
    collections::HashSet,
    fs,
    io::Read,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use rayon::prelude::*;
pub use ws3_engine::files::MAX_FILE_BYTES;
use ws3_engine::files::{file_type_name, read_capped, read_regular_file};

use crate::{
    error::{Notice, Problem, ProblemKind},
    escape::display_name,
};

/// The name standard input is shown as.
pub const STDIN_NAME: &str = "<stdin>";

/// One input file with its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in output: the path as given, or `<stdin>`, with control characters
    /// escaped ([`display_name`]).
    pub name: String,
    /// The text (a UTF-8 byte-order mark removed).
    pub text: String,
    /// Byte offset where each line starts. 32 bits (half the memory of `usize`, which at 8 bytes
    /// a line was most of an index as large as 3/4 of the text): [`read`] takes files up to
    /// [`MAX_FILE_BYTES`]; lines of a text given to [`SourceFile::new`] past 4 GiB are not
    /// indexed.
    line_starts: Vec<u32>,
}

impl SourceFile {
    /// A file from its name and text. Lines end at `\n`, `\r\n` or a lone `\r`, as the YAML
    /// parser counts them, so that positions and line numbers agree.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let mut text = text.into();
        if text.starts_with('\u{feff}') {
            text.drain(..'\u{feff}'.len_utf8());
        }
        let name: String = name.into();
        let line_starts = std::iter::once(0)
            .chain(line_breaks(&text))
            .map_while(|i| u32::try_from(i).ok())
            .collect();
        Self {
            name: display_name(&name).into_owned(),
            text,
            line_starts,
        }
    }

    /// Line `n` (from 1) without its line break, if the file has it.
    pub fn line(&self, n: usize) -> Option<&str> {
        let start = self.line_start(n)?;
        let end = self.line_start(n + 1).unwrap_or(self.text.len());
        let line = &self.text[start..end];
        let line = line.strip_suffix('\n').unwrap_or(line);
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    /// The byte offset where line `n` (from 1) starts, if the file has it.
    pub fn line_start(&self, n: usize) -> Option<usize> {
        self.line_starts.get(n.checked_sub(1)?).map(|&i| i as usize)
    }

    /// How many lines the file has.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// Where each line after the first starts: after `\n`, and after a `\r` not followed by `\n`.
fn line_breaks(text: &str) -> impl Iterator<Item = usize> + '_ {
    let b = text.as_bytes();
    b.iter().enumerate().filter_map(move |(i, &c)| match c {
        b'\n' => Some(i + 1),
        b'\r' if b.get(i + 1) != Some(&b'\n') => Some(i + 1),
        _ => None,
    })
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
pub struct Discovery {
    /// Inputs in order.
    pub inputs: Vec<Input>,
    /// Paths that cannot be read: missing, unreadable, broken links, FIFOs, sockets, devices.
    pub problems: Vec<Problem>,
    /// Directories without manifests, hidden entries and linked directories skipped.
    pub notices: Vec<Notice>,
    /// Hidden entries (files with a manifest's name and directories, `.git` aside) skipped
    /// below the directories named: "N hidden entries skipped".
    pub hidden_skipped: usize,
}

/// Whether a file found in a directory is linted.
fn is_manifest(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// A path as output shows it.
fn shown(path: &Path) -> String {
    display_name(&path.display().to_string()).into_owned()
}

/// Expands the command-line paths into inputs.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut found = Discovery::default();
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
            Err(e) if path.symlink_metadata().is_ok() => found.problems.push(Problem::io(
                shown(path),
                format!("broken symbolic link: {}", io_reason(&e)),
            )),
            Err(e) => found.problems.push(Problem::io(
                shown(path),
                format!("cannot read: {}", io_reason(&e)),
            )),
            Ok(meta) if meta.is_dir() => {
                let before = found.inputs.len();
                walk(path, &mut found, &mut seen);
                if found.inputs.len() == before {
                    found.notices.push(Notice {
                        file: Some(shown(path)),
                        document: None,
                        message: "no *.yaml, *.yml or *.json files in this directory".into(),
                    });
                }
            }
            Ok(meta) if meta.is_file() => {
                add_file(path.clone(), canonical(path), &mut found, &mut seen);
            }
            Ok(meta) => found.problems.push(not_regular(path, &meta.file_type())),
        }
    }
    found
}

fn not_regular(path: &Path, file_type: &fs::FileType) -> Problem {
    Problem::io(
        shown(path),
        format!(
            "{} is not read: only regular files are",
            file_type_name(file_type)
        ),
    )
}

/// Adds a file unless the same file (its canonical path, `key`) was added before.
fn add_file(path: PathBuf, key: PathBuf, found: &mut Discovery, seen: &mut HashSet<PathBuf>) {
    if seen.insert(key) {
        found.inputs.push(Input::File(path));
    }
}

/// The key by which the same file reached twice is read once: its canonical path, else the
/// path as given.
fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Whether a hidden entry is worth counting: a directory (other than `.git`) or a file that
/// would be linted (other than `.ws3.yaml`).
fn counts_as_hidden(entry: &ignore::DirEntry) -> bool {
    let name = entry.file_name();
    if entry.file_type().is_some_and(|t| t.is_dir()) {
        name != ".git"
    } else {
        name != ws3_engine::config::FILE_NAME && is_manifest(entry.path())
    }
}

fn walk(dir: &Path, found: &mut Discovery, seen: &mut HashSet<PathBuf>) {
    let hidden: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let mut builder = ignore::WalkBuilder::new(dir);
    builder
        .hidden(false)
        .git_global(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b));
    {
        let hidden = Arc::clone(&hidden);
        builder.filter_entry(move |entry| {
            let is_hidden =
                entry.depth() > 0 && entry.file_name().as_encoded_bytes().first() == Some(&b'.');
            if is_hidden
                && counts_as_hidden(entry)
                && let Ok(mut list) = hidden.lock()
            {
                list.push(entry.path().to_owned());
            }
            !is_hidden
        });
    }
    // A file the walk reaches, not through a link, is at the same place below the canonical
    // directory as below `dir`: the walk follows no link into a directory. Its key is then the
    // canonical directory joined with that place, not one canonicalization per file (a
    // `readlink` per component of its path: for 2,000 files, 8,000 calls and about 6.5 ms of
    // the 11 ms discovery took).
    let canonical_dir = fs::canonicalize(dir).ok();
    let key = |path: &Path| {
        canonical_dir
            .as_ref()
            .zip(path.strip_prefix(dir).ok())
            .map_or_else(
                || canonical(path),
                |(canonical_dir, below)| canonical_dir.join(below),
            )
    };
    for result in builder.build() {
        let entry = match result {
            Ok(entry) => entry,
            Err(error) => {
                found.problems.push(walk_problem(dir, &error));
                continue;
            }
        };
        let path = entry.path();
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        if entry.depth() == 0 || file_type.is_dir() {
            continue;
        }
        if file_type.is_symlink() {
            match fs::metadata(path) {
                Ok(target) if target.is_dir() => found.notices.push(Notice {
                    file: Some(shown(path)),
                    document: None,
                    message: "a symbolic link to a directory, not followed (name it to lint it)"
                        .into(),
                }),
                Ok(_) if !is_manifest(path) => {}
                Ok(target) if target.is_file() => {
                    add_file(path.to_owned(), canonical(path), found, seen);
                }
                Ok(target) => found.problems.push(not_regular(path, &target.file_type())),
                Err(e) if is_manifest(path) => found.problems.push(Problem::io(
                    shown(path),
                    format!("broken symbolic link: {}", io_reason(&e)),
                )),
                Err(_) => found.notices.push(Notice {
                    file: Some(shown(path)),
                    document: None,
                    message: "a broken symbolic link, skipped".into(),
                }),
            }
        } else if is_manifest(path) {
            if file_type.is_file() {
                add_file(path.to_owned(), key(path), found, seen);
            } else {
                found.problems.push(not_regular(path, &file_type));
            }
        }
    }
    let hidden = std::mem::take(&mut *hidden.lock().unwrap_or_else(|e| e.into_inner()));
    if !hidden.is_empty() {
        const SHOWN: usize = 5;
        let mut names: Vec<String> = hidden
            .iter()
            .take(SHOWN)
            .map(|p| shown(p.strip_prefix(dir).unwrap_or(p)))
            .collect();
        if hidden.len() > SHOWN {
            names.push(format!("and {} more", hidden.len() - SHOWN));
        }
        found.notices.push(Notice {
            file: Some(shown(dir)),
            document: None,
            message: format!(
                "{} hidden {} skipped: {} (name a hidden path to lint it)",
                hidden.len(),
                if hidden.len() == 1 {
                    "entry"
                } else {
                    "entries"
                },
                names.join(", ")
            ),
        });
        found.hidden_skipped += hidden.len();
    }
}

/// A problem from the walker, naming the path it is about.
fn walk_problem(dir: &Path, error: &ignore::Error) -> Problem {
    fn parts(error: &ignore::Error) -> (Option<&Path>, String) {
        match error {
            ignore::Error::WithPath { path, err } => (Some(path), parts(err).1),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                parts(err)
            }
            ignore::Error::Io(e) => (None, io_reason(e)),
            ignore::Error::Loop { child, .. } => {
                (Some(child), "a symbolic link loop, not followed".to_owned())
            }
            other => (None, other.to_string()),
        }
    }
    let (path, reason) = parts(error);
    Problem::io(shown(path.unwrap_or(dir)), format!("cannot read: {reason}"))
}

/// An I/O error without the "(os error N)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Reads the inputs: regular files and standard input, at most [`MAX_FILE_BYTES`] each.
/// Unreadable, special, oversized and non-UTF-8 files become problems naming them.
pub fn read(inputs: &[Input], stdin: &mut dyn Read) -> (Vec<SourceFile>, Vec<Problem>) {
    read_on(inputs, stdin, 1)
}

/// [`read`] on up to `jobs` threads, with the same result: files and problems in input order.
/// Standard input is read first, on the calling thread.
pub fn read_on(
    inputs: &[Input],
    stdin: &mut dyn Read,
    jobs: usize,
) -> (Vec<SourceFile>, Vec<Problem>) {
    let stdin: Vec<Option<std::io::Result<Vec<u8>>>> = inputs
        .iter()
        .map(|input| (*input == Input::Stdin).then(|| read_capped(&mut *stdin, MAX_FILE_BYTES)))
        .collect();
    let jobs = jobs.clamp(1, inputs.len().max(1));
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) if jobs > 1 => pool.install(|| load(inputs, stdin, true)),
        _ => load(inputs, stdin, false),
    }
}

/// [`discover`] then [`read_on`] on a pool of `jobs` threads while `meanwhile` runs on the
/// calling thread, when `jobs > 1`; one after the other otherwise. For paths without `-`:
/// standard input is not read.
pub fn discover_and_read_while<T>(
    paths: &[PathBuf],
    jobs: usize,
    meanwhile: impl FnOnce() -> T,
) -> (T, Discovery, (Vec<SourceFile>, Vec<Problem>)) {
    let find_and_read = |parallel: bool| {
        let found = discover(paths);
        let stdin = found.inputs.iter().map(|_| None).collect();
        let read = load(&found.inputs, stdin, parallel);
        (found, read)
    };
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) if jobs > 1 => {
            let mut done = None;
            // The pool's threads find and read; this one runs `meanwhile`, then waits for them.
            let out = pool.in_place_scope(|scope| {
                scope.spawn(|_| done = Some(find_and_read(true)));
                meanwhile()
            });
            // Set by now: the scope waits for its job (and passes on a panic of it).
            let (found, read) = done.unwrap_or_else(|| find_and_read(false));
            (out, found, read)
        }
        _ => {
            let out = meanwhile();
            let (found, read) = find_and_read(false);
            (out, found, read)
        }
    }
}

/// Reads `inputs` (standard input's bytes already read, in `stdin`) on the current rayon pool
/// when `parallel`, on this thread otherwise: files and problems in input order.
fn load(
    inputs: &[Input],
    stdin: Vec<Option<std::io::Result<Vec<u8>>>>,
    parallel: bool,
) -> (Vec<SourceFile>, Vec<Problem>) {
    let load = |(input, stdin): (&Input, Option<std::io::Result<Vec<u8>>>)| match (input, stdin) {
        (Input::File(path), _) => text(shown(path), read_regular_file(path, MAX_FILE_BYTES)),
        // Read before, in input order.
        (Input::Stdin, bytes) => text(
            STDIN_NAME.to_owned(),
            bytes.unwrap_or_else(|| Ok(Vec::new())),
        ),
    };
    let loaded: Vec<Loaded> = if parallel {
        inputs
            .par_iter()
            .zip(stdin.into_par_iter())
            .map(load)
            .collect()
    } else {
        inputs.iter().zip(stdin).map(load).collect()
    };
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for loaded in loaded {
        match loaded {
            Loaded::File(file) => files.push(file),
            Loaded::Problem(problem) => problems.push(problem),
        }
    }
    (files, problems)
}

/// One input read: a file, or why it cannot be linted.
enum Loaded {
    File(SourceFile),
    Problem(Problem),
}

/// A file from its bytes as read, or the problem that it cannot be read or is not UTF-8.
fn text(name: String, bytes: std::io::Result<Vec<u8>>) -> Loaded {
    match bytes {
        Err(e) => Loaded::Problem(Problem::io(name, format!("cannot read: {}", io_reason(&e)))),
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Loaded::File(SourceFile::new(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let line =
                    SourceFile::new("", String::from_utf8_lossy(&e.as_bytes()[..at])).line_count();
                let mut p = Problem::io(name, "not UTF-8 text");
                p.kind = ProblemKind::Syntax;
                p.line = Some(line);
                Loaded::Problem(p)
            }
        },
    }
}

#[cfg(test)]
mod tests;
