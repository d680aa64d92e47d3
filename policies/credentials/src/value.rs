//! Whether a value is there at all: empty, a reference to another variable, or a literal.

/// What a value is, before asking what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Presence {
    /// Empty or only whitespace.
    #[default]
    Empty,
    /// Only a reference to another variable: `$(VAR)` as Kubernetes expands it in env values,
    /// `${VAR}` as templates and shells do.
    Reference,
    /// Anything else.
    Literal,
}

/// Whether `value` is empty, only a reference, or a literal.
pub fn presence(value: &str) -> Presence {
    let v = value.trim();
    if v.is_empty() {
        Presence::Empty
    } else if is_reference(v) {
        Presence::Reference
    } else {
        Presence::Literal
    }
}

fn is_reference(v: &str) -> bool {
    let name = v
        .strip_prefix("$(")
        .and_then(|r| r.strip_suffix(')'))
        .or_else(|| v.strip_prefix("${").and_then(|r| r.strip_suffix('}')));
    name.is_some_and(|n| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_references_and_literals() {
        assert_eq!(presence(""), Presence::Empty);
        assert_eq!(presence("  \n"), Presence::Empty);
        assert_eq!(presence("$(DB_PASSWORD)"), Presence::Reference);
        assert_eq!(presence(" ${DB_PASSWORD} "), Presence::Reference);
        assert_eq!(presence("${db.password}"), Presence::Reference);
        for literal in [
            "password",
            "$ecret",
            "$DB_PASSWORD",
            "$(not a var)",
            "$()",
            "${DB_PASSWORD:-changeme}",
            "$(A)$(B)",
            "x$(A)",
        ] {
            assert_eq!(presence(literal), Presence::Literal, "{literal}");
        }
    }
}
