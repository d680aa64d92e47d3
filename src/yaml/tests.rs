use super::*;

fn one(text: &str) -> Node {
    let stream = parse_stream(text);
    assert_eq!(stream.error, None, "{text}");
    stream
        .documents
        .into_iter()
        .next()
        .and_then(|d| d.root)
        .expect("a document")
}

fn json(text: &str) -> String {
    let mut out = String::new();
    write_json(&mut out, &one(text));
    out
}

fn all_json(text: &str) -> Vec<String> {
    let stream = parse_stream(text);
    assert_eq!(stream.error, None, "{text}");
    stream
        .documents
        .iter()
        .filter_map(|d| d.root.as_ref())
        .map(|root| {
            let mut out = String::new();
            write_json(&mut out, root);
            out
        })
        .collect()
}

fn error(text: &str) -> YamlError {
    parse_stream(text).error.expect("an error")
}

#[test]
fn quoted_and_block_scalars_are_strings() {
    assert_eq!(
        json("a: \"yes\"\nb: '1'\nc: |\n  true\nd: !!str 5\ne: !!int \"5\"\nf: yes\n"),
        r#"{"a":"yes","b":"1","c":"true\n","d":"5","e":5,"f":true}"#
    );
}

#[test]
fn escapes_json_strings() {
    assert_eq!(
        json("a: \"q\\\"b\\\\\\t\\u0001é\"\n"),
        r#"{"a":"q\"b\\\t\u0001é"}"#
    );
}

#[test]
fn keys_become_strings() {
    // go-yaml v2 reads `n` as false and `0x10` as 16.
    assert_eq!(
        json("1: a\ntrue: b\n~: c\n0x10: e\nn: f\n'n': g\n"),
        r#"{"1":"a","true":"b","null":"c","16":"e","false":"f","n":"g"}"#
    );
}

#[test]
fn resolves_anchors_aliases_and_merges() {
    let text = "base: &b\n  x: 1\n  w: 2\nother: &o {z: 3}\nm:\n  <<: [*b, *o]\n  w: 9\nk:\n  w: 8\n  <<: *b\nlist: [*o, *o]\n";
    assert_eq!(
        json(text),
        r#"{"base":{"x":1,"w":2},"other":{"z":3},"m":{"w":9,"x":1,"z":3},"k":{"w":8,"x":1},"list":[{"z":3},{"z":3}]}"#
    );
    // Merged entries keep the span where they are written.
    let root = one(text);
    let x = root.get("m").and_then(|m| m.entry("x")).expect("merged x");
    assert_eq!(x.key.span.start, Pos { line: 2, col: 2 });
}

#[test]
fn duplicate_keys_are_errors_at_any_depth_naming_both_lines() {
    let e = error("a: 1\nb: 2\na: 3\n");
    assert_eq!((e.line, e.column, e.document), (3, 1, 1));
    assert!(
        e.message
            .starts_with("duplicate key `a`: first at line 1, again at line 3"),
        "{e:?}"
    );
    let e = error(
        "x: 1\n---\nkind: ConfigMap\ndata:\n  POSTGRES_PASSWORD: admin123\n  OTHER: 1\n  POSTGRES_PASSWORD: \"\"\n",
    );
    assert_eq!((e.line, e.column, e.document), (7, 3, 2));
    assert!(e.message.contains("`POSTGRES_PASSWORD`"), "{e:?}");
    assert!(
        e.message.contains("first at line 5, again at line 7"),
        "{e:?}"
    );
    assert!(!e.message.contains("admin123"), "{e:?}");
    // Keys that JSON names alike (`on` is the boolean true), flow mappings, deep ones.
    assert!(
        error("true: 1\non: 2\n")
            .message
            .contains("duplicate key `true`")
    );
    assert!(
        error("a: {x: 1, x: 2}\n")
            .message
            .contains("duplicate key `x`")
    );
    let deep = "spec:\n  template:\n    spec:\n      volumes:\n      - name: a\n        emptyDir: {}\n        name: b\n";
    assert_eq!(error(deep).line, 7);
    // Many keys (the indexed path).
    let mut many: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
    many.push_str("k7: again\n");
    assert!(
        error(&many)
            .message
            .contains("first at line 8, again at line 41")
    );
    // Merges are not duplicates; explicit keys win.
    assert_eq!(
        json("b: &b {x: 1}\nm:\n  x: 2\n  <<: *b\n  <<: {z: 3}\n"),
        r#"{"b":{"x":1},"m":{"x":2,"z":3}}"#
    );
}

#[test]
fn control_characters_in_duplicate_keys_are_escaped() {
    let e = error("\"a\\e]0;x\\a\": 1\n\"a\\e]0;x\\a\": 2\n");
    assert!(e.message.contains("`a\\x1b]0;x\\x07`"), "{e:?}");
}

#[test]
fn bad_merges_and_unknown_aliases_are_errors() {
    let e = error("a:\n  <<: 1\n");
    assert!(e.message.contains("merge"), "{e:?}");
    assert_eq!((e.line, e.column), (2, 3));
    assert!(parse_stream("a: *nope\n").error.is_some());
}

#[test]
fn syntax_errors_say_the_rest_of_the_file_is_not_linted() {
    let stream = parse_stream("a: 1\n---\nb: [1, 2\nc: 3\n");
    assert_eq!(stream.documents.len(), 1);
    let e = stream.error.expect("error");
    assert_eq!(e.document, 2);
    assert!(e.line >= 3, "{e:?}");
    assert!(
        e.message.ends_with(&format!(
            "the rest of the file (from line {}) is not linted",
            e.line
        )),
        "{e:?}"
    );
}

#[test]
fn spans_are_right_with_crlf_and_comments() {
    let text = "# head\r\na: 1\r\nb:\r\n  c: d # tail\r\n";
    let root = one(text);
    let c = root.get("b").and_then(|b| b.entry("c")).expect("c");
    assert_eq!(c.key.span.start, Pos { line: 4, col: 2 });
    assert_eq!(
        c.value.span,
        Span {
            start: Pos { line: 4, col: 5 },
            end: Pos { line: 4, col: 6 }
        }
    );
    assert_eq!(c.value.as_str(), Some("d"));
}

#[test]
fn lone_carriage_returns_end_lines() {
    let root = one("a: 1\rb:\r  c: d\r\r  e: [x,\r    y]\r");
    let b = root.get("b").expect("b");
    assert_eq!(
        b.entry("c").expect("c").key.span.start,
        Pos { line: 3, col: 2 }
    );
    let e = b.get("e").expect("e");
    let NodeKind::Seq(items) = &e.kind else {
        panic!("a list")
    };
    assert_eq!(items[1].span.start, Pos { line: 6, col: 4 });
    // A lone CR in a JSON stream ends a line too.
    let stream = parse_stream("{\"a\":\r1,\r\"b\": 2}");
    let root = stream.documents[0].root.as_ref().expect("root");
    assert_eq!(
        root.entry("b").expect("b").key.span.start,
        Pos { line: 3, col: 0 }
    );
}

#[test]
fn json_files_keep_spans() {
    let text = "{\n  \"kind\": \"Pod\",\n  \"spec\": {\"x\": [1, 2]}\n}\n";
    let root = one(text);
    let spec = root.entry("spec").expect("spec");
    assert_eq!(spec.key.span.start, Pos { line: 3, col: 2 });
    assert_eq!(spec.value.span.end, Pos { line: 3, col: 23 });
    assert_eq!(json(text), r#"{"kind":"Pod","spec":{"x":[1,2]}}"#);
    // Columns count characters, not bytes.
    let root = one("{\"é😀\": \"ü\", \"b\": 1}");
    assert_eq!(
        root.entry("b").expect("b").key.span.start,
        Pos { line: 1, col: 12 }
    );
}

#[test]
fn concatenated_json_objects_are_documents() {
    assert_eq!(
        all_json("{\"a\":1}{\"b\":[true,null,-1.5e3]}"),
        [r#"{"a":1}"#, r#"{"b":[true,null,-1500]}"#]
    );
    let stream = parse_stream("  {\"a\": 1}\n\n{\"b\": 2}\r\n\t{\"c\": \"x\"}\n");
    assert!(stream.json);
    let at: Vec<_> = stream
        .documents
        .iter()
        .map(|d| (d.index, d.start.line, d.start.col))
        .collect();
    assert_eq!(at, [(1, 1, 2), (2, 3, 0), (3, 4, 1)]);
    // Strict JSON, as Go reads it: what follows the objects must be JSON too.
    let stream = parse_stream("{\"a\": 1}\n---\n{\"b\": 2}\n");
    assert_eq!(stream.documents.len(), 1);
    assert_eq!(stream.error.expect("error").document, 2);
    for bad in [
        "{\"a\": 1,}",
        "{\"a\": 1 // no comments\n}",
        "{'a': 1}",
        "{a: 1}",
        "{\"a\": 01}",
        "{\"a\": \"tab\tinside\"}",
        "{\"a\": \"\\q\"}",
        "{\"a\": [1 2]}",
        "{\"a\": tru}",
        "{\"a\": 1",
    ] {
        assert!(parse_stream(bad).error.is_some(), "{bad}");
    }
}

#[test]
fn json_surrogate_pairs_decode_and_lone_surrogates_are_errors() {
    assert_eq!(
        one("{\"emoji\": \"\\ud83d\\ude00 \\u00e9\\u4e2d\"}")
            .get("emoji")
            .and_then(Node::as_str),
        Some("😀 é中")
    );
    for lone in [
        "{\"a\": \"\\ud83d\"}",
        "{\"a\": \"\\ud83dx\"}",
        "{\"a\": \"\\ud83d\\u0041\"}",
        "{\"a\": \"\\ude00\"}",
    ] {
        let e = error(lone);
        assert!(e.message.contains("lone surrogate"), "{lone}: {e:?}");
        assert_eq!((e.line, e.column), (1, 8), "{lone}");
    }
    // In double-quoted YAML, go-yaml refuses surrogate escapes (`\U0001F600` is the YAML way).
    assert!(parse_stream("a: \"\\ud83d\\ude00\"\n").error.is_some());
    assert_eq!(
        one("a: \"\\U0001F600\"\n").get("a").and_then(Node::as_str),
        Some("😀")
    );
}

#[test]
fn json_duplicate_keys_are_errors() {
    let e = error("{\n\"a\": 1,\n\"b\": {\"c\": 1, \"c\": 2}}");
    assert_eq!((e.line, e.column), (3, 15));
    assert!(
        e.message
            .contains("duplicate key `c`: first at line 3, again at line 3")
    );
}

#[test]
fn quoted_scalars_may_close_at_their_keys_indentation() {
    // The shape of Kubernetes' e2e redis StatefulSet: JSON in a single-quoted annotation whose
    // closing `]'` sits at the key's indentation.
    let text = "metadata:\n  annotations:\n    init: '[\n        {\"name\": \"install\"}\n    ]'\n    other: x\nspec: {}\n";
    let root = one(text);
    let annotations = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .expect("a");
    assert_eq!(
        annotations.get("init").and_then(Node::as_str),
        Some("[ {\"name\": \"install\"} ]")
    );
    let init = annotations.get("init").expect("init");
    assert_eq!(init.span.start, Pos { line: 3, col: 10 });
    assert_eq!(init.span.end, Pos { line: 5, col: 6 });
    assert_eq!(
        annotations.entry("other").expect("other").key.span.start,
        Pos { line: 6, col: 4 }
    );
    // Continuation lines at column 0 (a PEM block in double quotes), two such scalars, tabs.
    let text =
        "a:\n  cert: \"-----BEGIN-----\nAAAA\n\tBBBB\n-----END-----\"\n  key: 'x\ny'\n  z: 1\n";
    let root = one(text);
    let a = root.get("a").expect("a");
    assert_eq!(
        a.get("cert").and_then(Node::as_str),
        Some("-----BEGIN----- AAAA BBBB -----END-----")
    );
    assert_eq!(a.get("key").and_then(Node::as_str), Some("x y"));
    assert_eq!(
        a.entry("z").expect("z").key.span.start,
        Pos { line: 8, col: 2 }
    );
    // What is not a quoted scalar stays an error, with its own position.
    let e = error("a:\n  b: 1\n c: 2\n");
    assert_eq!(e.line, 3);
}

#[test]
fn flow_collections_may_have_lines_less_indented_than_their_key() {
    // Items at column 0 under a nested key, a closing bracket before the key's column.
    let root = one("a:\n  list: [\n\"x\",\n w, {k: 'v]'}\n]\n  after: 1\n");
    assert_eq!(
        root.get("a")
            .and_then(|a| a.entry("after"))
            .map(|e| e.key.span.start),
        Some(Pos { line: 6, col: 2 })
    );
    let a = root.get("a").expect("a");
    let NodeKind::Seq(items) = &a.get("list").expect("list").kind else {
        panic!("a list")
    };
    assert_eq!(items[1].span.start, Pos { line: 4, col: 1 });
    let mut out = String::new();
    write_json(&mut out, &root);
    assert_eq!(out, r#"{"a":{"list":["x","w",{"k":"v]"}],"after":1}}"#);
}

#[test]
fn flow_collections_may_close_at_their_keys_indentation() {
    assert_eq!(
        json("a:\n  list: [\n    \"x\",\n  w\n  ]\n  m: {\n  k: v\n}\n"),
        r#"{"a":{"list":["x","w"],"m":{"k":"v"}}}"#
    );
}

#[test]
fn null_mapping_values_are_left_out_of_the_json() {
    assert_eq!(
        json(
            "metadata:\n  labels: {tier: null, app: db, x: ~}\ndata:\n  POSTGRES_PASSWORD:\n  USER: u\nspec:\nlist: [a, null, ~, '']\nq: 'null'\nn: !!null ''\n"
        ),
        r#"{"metadata":{"labels":{"app":"db"}},"data":{"USER":"u"},"list":["a",null,null,""],"q":"null"}"#
    );
    // A document with nothing but nulls is an empty object.
    assert_eq!(json("a:\nb: ~\n"), "{}");
}

#[test]
fn multiple_documents_and_empty_ones() {
    let stream = parse_stream("a: 1\n---\n---\n# only a comment\n---\nb: 2\n...\n");
    assert_eq!(stream.error, None);
    let roots: Vec<_> = stream
        .documents
        .iter()
        .map(|d| (d.index, d.root.is_some()))
        .collect();
    assert_eq!(roots, vec![(1, true), (2, false), (3, false), (4, true)]);
    assert_eq!(stream.documents[3].start.line, 5);
}

#[test]
fn block_collection_spans_end_at_their_last_child() {
    let root = one("a:\n  - x\n  - y: z\n\n# trailing\nb: 1\n");
    let a = root.get("a").expect("a");
    assert_eq!(a.span.start, Pos { line: 2, col: 2 });
    assert_eq!(a.span.end, Pos { line: 3, col: 8 });
}

/// Nine levels of ten aliases: 10^9 nodes if nothing stopped it.
fn laughs(prefix: &str) -> String {
    let mut text = format!("{prefix}0: &{prefix}0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = format!("*{prefix}{}", i - 1);
        text.push_str(&format!(
            "{prefix}{i}: &{prefix}{i} [{p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}]\n"
        ));
    }
    text
}

#[test]
fn billion_laughs_stop_at_the_expansion_limit() {
    let e = error(&laughs("a"));
    assert!(e.message.contains("expand past 128 MiB"), "{e:?}");
    assert_eq!(e.document, 1);
}

#[test]
fn one_large_string_aliased_many_times_stops_at_the_limit() {
    let mut text = format!("big: &big \"{}\"\nlist:\n", "x".repeat(1 << 20));
    for _ in 0..1000 {
        text.push_str("- *big\n");
    }
    let e = error(&text);
    assert!(e.message.contains("expand past"), "{e:?}");
    // It stopped after about 128 copies.
    assert!((120..=140).contains(&(e.line - 2)), "{e:?}");
}

#[test]
fn nested_anchors_alone_are_paid_for() {
    // Every anchor keeps a copy of what it holds: 200 nested anchors around 1 MiB copy it 200 times.
    let mut text = String::from("a: ");
    for i in 0..200 {
        text.push_str(&format!("&n{i} ["));
    }
    text.push_str(&format!("\"{}\"", "y".repeat(1 << 20)));
    text.push_str(&"]".repeat(200));
    text.push('\n');
    let e = error(&text);
    assert!(e.message.contains("expand past"), "{e:?}");
}

#[test]
fn the_expansion_budget_is_shared_by_the_files_of_a_run() {
    // Each document stays well under the limit; together, across documents and files, they
    // do not.
    let budget = ExpansionBudget::new(5 << 20);
    let doc = |name: &str| {
        let mut d = format!("{name}: &{name} \"{}\"\nl:\n", "z".repeat(100_000));
        for _ in 0..10 {
            d.push_str(&format!("- *{name}\n"));
        }
        d
    };
    let file = format!("{}---\n{}---\n{}", doc("a"), doc("b"), doc("c"));
    let first = parse_stream_with(&file, &budget);
    assert_eq!(first.error, None);
    let second = parse_stream_with(&file, &budget);
    let e = second.error.expect("over the shared budget");
    assert!(e.message.contains("expand past 5 MiB"), "{e:?}");
    assert_eq!(second.documents.len(), e.document - 1);
    assert!(e.document > 1, "{e:?}");
}

#[test]
fn a_repaired_parse_pays_for_its_aliases_once() {
    let budget = ExpansionBudget::new(1 << 20);
    let mut text = format!("a: &a \"{}\"\nl: [*a, *a, *a]\n", "q".repeat(200_000));
    text.push_str("b: 'x\ny'\n");
    let stream = parse_stream_with(&text, &budget);
    assert_eq!(stream.error, None);
    // 4 copies (the anchor and 3 aliases) of 200 KB: under 1 MiB once, over it twice.
    assert!(budget.take(100_000));
}

mod robustness {
    use super::parse_stream;

    /// Every prefix of the course manifests, and some byte noise, parses or fails cleanly.
    #[test]
    fn truncated_and_noisy_input_never_panics() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/course");
        let mut texts: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        texts.sort();
        for text in &texts {
            for (i, _) in text.char_indices().step_by(7) {
                let _ = parse_stream(&text[..i]);
            }
        }
        let mut seed: u32 = 0x2545_f491;
        for text in texts.iter().take(4) {
            for _ in 0..200 {
                let mut bytes: Vec<char> = text.chars().collect();
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let at = seed as usize % bytes.len();
                    bytes[at] = [
                        '{', '[', ':', '&', '*', '"', '\'', '\n', ' ', '-', '|', '>', '!', '%',
                        '\t',
                    ][at % 15];
                }
                let noisy: String = bytes.into_iter().collect();
                let _ = parse_stream(&noisy);
            }
        }
    }
}

/// Found by the `yaml_loader` fuzz target (fuzz/regressions/yaml_loader/): the parser puts the
/// end of a text without a final line break on the line after it.
#[test]
fn positions_stay_inside_a_text_without_a_final_line_break() {
    let end = |text: &str| parse_stream(text).documents.last().map(|d| d.end);
    for (text, at) in [
        ("a: b", (1, 4)),
        ("a: b\n# c", (2, 3)),
        ("a: b # c", (1, 8)),
        ("a: b\n---\nc", (3, 1)),
        ("a: b\r# é", (2, 3)),
    ] {
        let pos = end(text).expect(text);
        assert_eq!((pos.line, pos.col), at, "{text:?}");
    }
    // An error at the end of such a text too.
    let e = error("[ ");
    assert_eq!((e.line, e.column), (1, 3));
}
