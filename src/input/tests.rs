use std::process::Command;

use super::*;

fn names(found: &Discovery, root: &Path) -> Vec<String> {
    found
        .inputs
        .iter()
        .map(|i| match i {
            Input::Stdin => "-".into(),
            Input::File(p) => p.strip_prefix(root).unwrap_or(p).display().to_string(),
        })
        .collect()
}

fn write(root: &Path, files: &[&str]) {
    for f in files {
        let path = root.join(f);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "").unwrap();
    }
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

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
fn a_lone_carriage_return_ends_a_line_as_the_parser_counts_it() {
    let text = "a: 1\rb:\r\n  c: d\r\rstringData:\r  token: x\r";
    let f = SourceFile::new("x", text);
    assert_eq!(f.line(2), Some("b:"));
    assert_eq!(f.line(3), Some("  c: d"));
    assert_eq!(f.line(4), Some(""));
    assert_eq!(f.line(6), Some("  token: x"));
    // The parser puts `token` on the line the file shows it on.
    let root = crate::yaml::parse_stream(&f.text)
        .documents
        .remove(0)
        .root
        .unwrap();
    let token = root
        .get("stringData")
        .and_then(|s| s.entry("token"))
        .unwrap();
    assert_eq!(token.key.span.start.line, 6);
    assert_eq!(f.line(token.key.span.start.line), Some("  token: x"));
}

#[test]
fn names_are_escaped() {
    let f = SourceFile::new("a\n::error file=x::b\u{1b}[2J.yaml", "");
    assert_eq!(f.name, "a\\n::error file=x::b\\x1b[2J.yaml");
}

#[test]
fn walks_directories_in_order_and_skips_hidden_and_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        &[
            "a.yaml",
            "b/z.yml",
            "b/c/x.JSON",
            "b/readme.md",
            ".hidden.yaml",
            ".ws3.yaml",
            ".editorconfig",
            ".git/x.yaml",
            ".github/workflows/ci.yaml",
            "b/.k8s/db.yaml",
        ],
    );
    let found = discover(&[
        root.to_path_buf(),
        root.join("a.yaml"),
        "-".into(),
        "-".into(),
    ]);
    assert_eq!(
        names(&found, root),
        ["a.yaml", "b/c/x.JSON", "b/z.yml", "-"]
    );
    assert!(found.problems.is_empty(), "{:?}", found.problems);
    // `.hidden.yaml`, `.github` and `b/.k8s`; not `.git`, `.ws3.yaml` or `.editorconfig`.
    assert_eq!(found.hidden_skipped, 3);
    let notice = found
        .notices
        .iter()
        .find(|n| n.message.contains("hidden"))
        .expect("a notice");
    assert_eq!(
        notice.message,
        "3 hidden entries skipped: .github, .hidden.yaml, b/.k8s (name a hidden path to lint it)"
    );
}

#[test]
fn hidden_paths_named_explicitly_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, &[".k8s/db.yaml", ".k8s/.more/x.yaml", ".one.yaml"]);
    let found = discover(&[root.join(".k8s"), root.join(".one.yaml")]);
    assert_eq!(names(&found, root), [".k8s/db.yaml", ".one.yaml"]);
    assert_eq!(found.hidden_skipped, 1);
}

#[test]
fn gitignored_and_dot_ignored_directories_are_not_walked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        &[
            "app/deploy.yaml",
            "target/debug/x.json",
            "node_modules/pkg/package.json",
            "generated/out.yaml",
            "sub/local.yaml",
            "sub/keep.yaml",
        ],
    );
    fs::create_dir(root.join(".git")).unwrap();
    fs::write(root.join(".gitignore"), "target/\nnode_modules/\n").unwrap();
    fs::write(root.join(".ignore"), "generated/\n").unwrap();
    fs::write(root.join("sub/.gitignore"), "local.yaml\n").unwrap();
    let found = discover(&[root.to_path_buf()]);
    assert_eq!(names(&found, root), ["app/deploy.yaml", "sub/keep.yaml"]);
    // Walking a subdirectory still honours the repository's `.gitignore` above it.
    let found = discover(&[root.join("sub")]);
    assert_eq!(names(&found, root), ["sub/keep.yaml"]);
}

#[test]
fn a_file_reached_through_several_paths_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, &["a/one.yaml", "a/sub/two.yaml"]);
    std::os::unix::fs::symlink(root.join("a"), root.join("linked")).unwrap();
    let found = discover(&[
        root.join("a/sub"),
        root.join("linked"),
        root.join("a/sub/../one.yaml"),
        root.join("a"),
        root.join("a/one.yaml"),
    ]);
    assert_eq!(names(&found, root), ["a/sub/two.yaml", "linked/one.yaml"]);
}

#[test]
fn special_files_and_broken_links_in_a_walk_are_problems_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, &["real.yaml", "dir/inner.yaml"]);
    mkfifo(&root.join("pipe.yaml"));
    mkfifo(&root.join("pipe.txt"));
    std::os::unix::fs::symlink(root.join("missing.yaml"), root.join("broken.yaml")).unwrap();
    std::os::unix::fs::symlink(root.join("gone"), root.join("gone-dir")).unwrap();
    std::os::unix::fs::symlink(root.join("real.yaml"), root.join("link.yaml")).unwrap();
    std::os::unix::fs::symlink(root.join("dir"), root.join("linked")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("zero.yaml")).unwrap();
    let found = discover(&[root.to_path_buf()]);
    // `link.yaml` and `real.yaml` are the same file: read once.
    assert_eq!(names(&found, root), ["dir/inner.yaml", "link.yaml"]);
    let problems: Vec<(String, String)> = found
        .problems
        .iter()
        .map(|p| {
            let file = p.file.clone().unwrap_or_default();
            let name = Path::new(&file)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, p.message.clone())
        })
        .collect();
    assert_eq!(
        problems,
        [
            (
                "broken.yaml".into(),
                "broken symbolic link: No such file or directory".into()
            ),
            (
                "pipe.yaml".into(),
                "a FIFO is not read: only regular files are".into()
            ),
            (
                "zero.yaml".into(),
                "a character device is not read: only regular files are".into()
            ),
        ]
    );
    let notices: Vec<&str> = found.notices.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        notices,
        [
            "a broken symbolic link, skipped",
            "a symbolic link to a directory, not followed (name it to lint it)"
        ]
    );
}

#[test]
fn special_files_named_explicitly_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let broken = dir.path().join("broken.yaml");
    std::os::unix::fs::symlink(dir.path().join("nope"), &broken).unwrap();
    let found = discover(&[fifo, broken, "/dev/null".into()]);
    assert!(found.inputs.is_empty());
    let messages: Vec<&str> = found.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "a FIFO is not read: only regular files are",
            "broken symbolic link: No such file or directory",
            "a character device is not read: only regular files are"
        ]
    );
}

#[test]
fn a_path_that_becomes_a_fifo_after_discovery_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.yaml");
    fs::write(&path, "a: 1\n").unwrap();
    let found = discover(std::slice::from_ref(&path));
    fs::remove_file(&path).unwrap();
    mkfifo(&path);
    let (files, problems) = read(&found.inputs, &mut std::io::empty());
    assert!(files.is_empty());
    assert_eq!(
        problems[0].message,
        "cannot read: a FIFO is not read: only regular files are"
    );
}

#[test]
fn files_and_stdin_over_the_cap_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    fs::File::create(&big)
        .unwrap()
        .set_len(MAX_FILE_BYTES + 1)
        .unwrap();
    let (files, problems) = read(
        &[Input::File(big), Input::Stdin],
        &mut std::io::repeat(b'a'),
    );
    assert!(files.is_empty());
    let got: Vec<(Option<&str>, &str)> = problems
        .iter()
        .map(|p| {
            (
                p.file.as_deref().map(|f| f.rsplit('/').next().unwrap_or(f)),
                p.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                Some("big.yaml"),
                "cannot read: larger than 16 MiB, the limit on one file"
            ),
            (
                Some("<stdin>"),
                "cannot read: larger than 16 MiB, the limit on one file"
            ),
        ]
    );
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
    fs::write(&bad, b"a: 1\rb: \xff\n").unwrap();
    let (files, problems) = read(&[Input::File(bad)], &mut std::io::empty());
    assert!(files.is_empty());
    assert_eq!(problems[0].line, Some(2));
}

#[test]
fn reading_on_many_threads_keeps_input_order_and_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for i in 0..40 {
        let path = dir.path().join(format!("{i:02}.yaml"));
        match i % 4 {
            0 => fs::write(&path, format!("a: {i}\n")).unwrap(),
            1 => fs::write(&path, b"a: \xff\n").unwrap(),
            2 => {} // missing
            _ => fs::write(&path, format!("\u{feff}b: {i}\r\n")).unwrap(),
        }
        inputs.push(Input::File(path));
        if i == 17 {
            inputs.push(Input::Stdin);
        }
    }
    let shown = |(files, problems): (Vec<SourceFile>, Vec<Problem>)| {
        let files: Vec<(String, String)> = files.into_iter().map(|f| (f.name, f.text)).collect();
        let problems: Vec<(Option<String>, Option<usize>, String)> = problems
            .into_iter()
            .map(|p| (p.file, p.line, p.message))
            .collect();
        (files, problems)
    };
    let one = shown(read(&inputs, &mut "c: stdin\n".as_bytes()));
    let many = shown(read_on(&inputs, &mut "c: stdin\n".as_bytes(), 4));
    assert_eq!(one.0.len(), 21);
    assert_eq!(one.1.len(), 20);
    assert_eq!(one.0[9], ("<stdin>".to_owned(), "c: stdin\n".to_owned()));
    assert_eq!(one, many);
}
