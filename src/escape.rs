//! Names from the input made safe to print.
//!
//! File names, Helm `# Source:` template names and mapping keys come from the files being
//! linted, so they may hold control characters: a newline that starts a forged
//! `::error file=…::` workflow command on a CI log, an escape sequence that retitles the
//! terminal, a bidi override that makes a name read differently from what it is.
//! [`display_name`] is the one function every place that prints such a name goes through.

use std::{borrow::Cow, fmt::Write as _};

/// Whether `c` is printed escaped: C0 controls, DEL, C1 controls, the Unicode line and
/// paragraph separators, and the bidirectional marks and overrides (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069).
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}' | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `name` with every control character (C0, DEL, C1) and every bidirectional override shown
/// as a visible escape: `\n`, `\r`, `\t`, `\x1b` for the other C0 controls and DEL, `\u{85}`
/// and `\u{202e}` for the rest. Everything else, backslashes included, is kept as it is, so
/// escaping twice changes nothing and ordinary names (Windows paths too) read as written.
/// Borrows when there is nothing to escape.
pub fn display_name(name: &str) -> Cow<'_, str> {
    let Some(first) = name.find(needs_escape) else {
        return Cow::Borrowed(name);
    };
    let mut out = String::with_capacity(name.len() + 8);
    out.push_str(&name[..first]);
    for c in name[first..].chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c <= '\u{7f}' && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn control_and_bidi_characters_are_shown_escaped() {
        assert_eq!(
            display_name("a\n::error file=x::b\r\tc"),
            "a\\n::error file=x::b\\r\\tc"
        );
        assert_eq!(display_name("\u{1b}]0;title\u{7}"), "\\x1b]0;title\\x07");
        assert_eq!(display_name("x\u{7f}\u{85}\u{9b}"), "x\\x7f\\u{85}\\u{9b}");
        assert_eq!(
            display_name("evil\u{202e}lmy.yaml\u{2066}\u{2069}\u{200f}\u{2028}"),
            "evil\\u{202e}lmy.yaml\\u{2066}\\u{2069}\\u{200f}\\u{2028}"
        );
    }

    #[test]
    fn ordinary_names_are_borrowed_and_escaping_twice_changes_nothing() {
        for name in [
            "k8s/db.yaml",
            "C:\\repo\\a b.yml",
            "données/é.json",
            "templates/😀.yaml",
        ] {
            assert!(
                matches!(display_name(name), std::borrow::Cow::Borrowed(_)),
                "{name}"
            );
        }
        let once = display_name("a\u{1b}[31mb\u{202e}\n").into_owned();
        assert_eq!(display_name(&once), once);
    }
}
