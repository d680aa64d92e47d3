//! JSON paths of offending fields, as rules report them.

use std::fmt::{self, Write as _};

/// A JSON path such as `spec.template.spec.volumes[0].emptyDir`, built field by field.
///
/// Keys that are not plain identifiers (letters, digits, `_`, `-`, `$`, not starting with a digit)
/// are quoted: `data["app.conf"]`. Hosts parse the same grammar to point at the YAML source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Path(String);

impl Path {
    /// The whole object.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Appends an object key.
    #[must_use]
    pub fn key(mut self, key: &str) -> Self {
        if is_plain(key) {
            if !self.0.is_empty() {
                self.0.push('.');
            }
            self.0.push_str(key);
        } else {
            self.0.push('[');
            // serde_json escapes exactly as JSON does; writing to a String cannot fail.
            let quoted = serde_json::to_string(key).unwrap_or_default();
            self.0.push_str(&quoted);
            self.0.push(']');
        }
        self
    }

    /// Appends an array index.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        let _ = write!(self.0, "[{index}]");
        self
    }

    /// Appends several object keys.
    #[must_use]
    pub fn keys(self, keys: &[&str]) -> Self {
        keys.iter().fold(self, |p, k| p.key(k))
    }

    /// The rendered path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_plain(key: &str) -> bool {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Path> for String {
    fn from(p: Path) -> Self {
        p.0
    }
}

impl From<&Path> for String {
    fn from(p: &Path) -> Self {
        p.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::Path;

    #[test]
    fn renders_fields_indices_and_quoted_keys() {
        let p = Path::root()
            .keys(&["spec", "template", "spec", "volumes"])
            .index(0)
            .key("emptyDir");
        assert_eq!(p.as_str(), "spec.template.spec.volumes[0].emptyDir");
        let q = Path::root().key("data").key("app.conf");
        assert_eq!(q.as_str(), r#"data["app.conf"]"#);
        assert_eq!(
            Path::root().key("data").key("9lives").as_str(),
            r#"data["9lives"]"#
        );
        assert_eq!(
            Path::root().key("POSTGRES-PASSWORD").as_str(),
            "POSTGRES-PASSWORD"
        );
        assert_eq!(Path::root().key("a\"b").as_str(), r#"["a\"b"]"#);
    }
}
