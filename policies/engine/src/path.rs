//! The JSON path grammar rules use for offending fields: `spec.volumes[0].emptyDir`,
//! `data["app.conf"]`.

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {path:?} at byte {at}")]
pub struct PathError {
    /// The path.
    pub path: String,
    /// Where parsing stopped.
    pub at: usize,
}

/// Parses a path. The empty path is the whole object.
pub fn parse(path: &str) -> Result<Vec<Segment>, PathError> {
    let err = |at| PathError {
        path: path.to_owned(),
        at,
    };
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' if i > 0 => i += 1,
            b'[' => {
                i += 1;
                if bytes.get(i) == Some(&b'"') {
                    // A JSON string literal up to the closing quote.
                    let start = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    let lit = path.get(start..=i).ok_or_else(|| err(start))?;
                    let key: String = serde_json::from_str(lit).map_err(|_| err(start))?;
                    i += 1;
                    out.push(Segment::Key(key));
                } else {
                    let start = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    let n = path[start..i].parse().map_err(|_| err(start))?;
                    out.push(Segment::Index(n));
                }
                if bytes.get(i) != Some(&b']') {
                    return Err(err(i));
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        if i >= bytes.len() {
            return Err(err(i));
        }
        if bytes[i] == b'[' {
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'.' && bytes[i] != b'[' {
            i += 1;
        }
        if start == i {
            return Err(err(i));
        }
        out.push(Segment::Key(path[start..i].to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Segment::*, parse};

    #[test]
    fn parses_keys_indices_and_quoted_keys() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("spec.template.spec.volumes[0].emptyDir").unwrap(),
            vec![
                Key("spec".into()),
                Key("template".into()),
                Key("spec".into()),
                Key("volumes".into()),
                Index(0),
                Key("emptyDir".into())
            ]
        );
        assert_eq!(
            parse(r#"data["app.conf"]"#).unwrap(),
            vec![Key("data".into()), Key("app.conf".into())]
        );
        assert_eq!(
            parse(r#"["a\"b"][3]"#).unwrap(),
            vec![Key("a\"b".into()), Index(3)]
        );
        assert_eq!(
            parse("items[12].x-y").unwrap(),
            vec![Key("items".into()), Index(12), Key("x-y".into())]
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["a..b", "a[", "a[x]", "a.", r#"a["b"#, ".a"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
