//! Stand-ins for ConfigMap values: what the engine keeps instead of the value.

use crate::{Class, Presence, classify, is_secret_like_key, password_spans};

/// Values up to this many bytes may be kept as they are when nothing in them is secret.
const SHORT: usize = 64;

/// A short stand-in for the value of ConfigMap key `key` that [`classify`] reads exactly as it
/// reads `value`, so that a host can keep the stand-in instead of the value and rules judge it
/// the same.
///
/// A short value (up to 64 bytes) under a key that is not secret-like, with no password in it,
/// is kept as it is. Otherwise: empty stays empty (`""`), a reference becomes `$(REDACTED)`, a
/// value with a postgres connection string and password becomes
/// `postgresql://redacted:redacted@redacted/redacted` (without a password, the same URL without
/// `redacted:redacted@`; a postgres host name counts as such a mention), an ADO.NET string of an
/// unnamed database with a password becomes `Host=redacted;Username=redacted;Password=redacted`
/// (on a line of its own), and any other literal becomes `redacted`.
pub fn summarize(key: &str, value: &str) -> String {
    let class = classify(value);
    let keep = value.len() <= SHORT
        && !is_secret_like_key(key)
        && !class.postgres_password
        && !class.unnamed_password
        && password_spans(value).is_empty();
    if keep {
        value.to_owned()
    } else {
        stand_in(class)
    }
}

/// The canonical value of a class.
fn stand_in(class: Class) -> String {
    match class.presence {
        Presence::Empty => String::new(),
        Presence::Reference => "$(REDACTED)".to_owned(),
        Presence::Literal => {
            let mut lines = Vec::new();
            if class.postgres_password {
                lines.push("postgresql://redacted:redacted@redacted/redacted");
            } else if class.postgres_mention {
                lines.push("postgresql://redacted/redacted");
            }
            if class.unnamed_password {
                lines.push("Host=redacted;Username=redacted;Password=redacted");
            }
            if lines.is_empty() {
                lines.push("redacted");
            }
            lines.join("\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_a_stand_in_of_the_same_class() {
        let mut classes = vec![
            Class::default(),
            Class {
                presence: Presence::Reference,
                ..Class::default()
            },
        ];
        for bits in 0..8u8 {
            let class = Class {
                presence: Presence::Literal,
                postgres_password: bits & 1 != 0,
                unnamed_password: bits & 2 != 0,
                postgres_mention: bits & 4 != 0 || bits & 1 != 0,
            };
            classes.push(class);
        }
        for class in classes {
            let s = stand_in(class);
            assert_eq!(classify(&s), class, "{s:?}");
            // A stand-in of a secret key is itself.
            assert_eq!(summarize("PASSWORD", &s), s);
        }
    }

    #[test]
    fn short_values_without_secrets_are_kept() {
        assert_eq!(summarize("DB_HOST", "postgres"), "postgres");
        assert_eq!(summarize("LOG_LEVEL", "debug"), "debug");
        assert_eq!(summarize("DB_PASSWORD", "$(PW)"), "$(REDACTED)");
        assert_eq!(summarize("DB_PASSWORD", "hunter2"), "redacted");
        assert_eq!(summarize("DB_PASSWORD", " "), "");
        assert_eq!(summarize("CONFIG", &"x".repeat(65)), "redacted");
        assert_eq!(
            summarize("DATABASE_URL", "postgresql://app:pw@db/app"),
            "postgresql://redacted:redacted@redacted/redacted"
        );
        assert_eq!(summarize("REDIS_URL", "redis://:pw@cache"), "redacted");
        assert_eq!(
            summarize("CS", "Host=db;Username=app;Password=pw"),
            "Host=redacted;Username=redacted;Password=redacted"
        );
    }
}
