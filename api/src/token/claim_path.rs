//! Where a claim lives in a token: a dotted path such as `app_metadata.org_id`.
//!
//! Providers do not agree on where custom claims go: Supabase nests them in `app_metadata`,
//! Clerk puts `org_id` at the top level, and Auth0 requires custom claims under a namespaced
//! key, which is a URL full of dots and slashes (`https://furnitureops.example/org_id`). So a
//! segment may be written in double quotes, and is then taken as written, dots included:
//!
//! | path | names |
//! |---|---|
//! | `app_metadata.org_id` | `{"app_metadata": {"org_id": ...}}` |
//! | `org_id` | `{"org_id": ...}` |
//! | `"https://furnitureops.example/org_id"` | `{"https://furnitureops.example/org_id": ...}` |
//! | `"https://furnitureops.example/app".org_id` | `{"https://furnitureops.example/app": {"org_id": ...}}` |
//!
//! This is the syntax of TOML's dotted keys. Inside quotes, `\"` and `\\` stand for `"` and `\`;
//! outside them, a segment may hold anything but dots, quotes and white space.

use std::{fmt, str::FromStr};

use serde_json::{Map, Value};

/// A parsed claim path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    segments: Vec<String>,
    /// As the operator wrote it, for messages.
    written: String,
}

/// Why a claim path could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claim path {path:?}: {reason}")]
pub struct ClaimPathError {
    path: String,
    reason: &'static str,
}

impl ClaimPath {
    /// The claim this path names in `claims`, if there is one.
    pub fn lookup<'c>(&self, claims: &'c Map<String, Value>) -> Option<&'c Value> {
        let (first, rest) = self.segments.split_first()?;
        rest.iter()
            .try_fold(claims.get(first)?, |value, segment| value.get(segment))
    }

    /// The keys from the top of the token down.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl FromStr for ClaimPath {
    type Err = ClaimPathError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let written = raw.trim();
        let refuse = |reason| ClaimPathError {
            path: written.to_owned(),
            reason,
        };
        let mut segments = Vec::new();
        let mut chars = written.chars().peekable();
        loop {
            let mut segment = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\')) => segment.push(escaped),
                            _ => return Err(refuse("inside quotes only \\\" and \\\\ escape")),
                        },
                        Some(c) => segment.push(c),
                        None => return Err(refuse("a quote is not closed")),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != '.') {
                    if c == '"' || c.is_whitespace() {
                        return Err(refuse("quotes and spaces belong inside a quoted segment"));
                    }
                    segment.push(c);
                }
            }
            if segment.is_empty() {
                return Err(refuse("a segment is empty"));
            }
            segments.push(segment);
            match chars.next() {
                None => break,
                Some('.') => {}
                Some(_) => return Err(refuse("a quoted segment must be followed by a dot")),
            }
        }
        Ok(Self {
            segments,
            written: written.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segments(raw: &str) -> Vec<String> {
        raw.parse::<ClaimPath>()
            .map(|path| path.segments)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn dotted_and_quoted_segments() {
        assert_eq!(segments("app_metadata.org_id"), ["app_metadata", "org_id"]);
        assert_eq!(segments("org_id"), ["org_id"]);
        assert_eq!(
            segments(r#""https://furnitureops.example/org_id""#),
            ["https://furnitureops.example/org_id"]
        );
        assert_eq!(
            segments(r#""https://furnitureops.example/app".org_id"#),
            ["https://furnitureops.example/app", "org_id"]
        );
        assert_eq!(segments(r#""say \"hi\" \\ o/""#), [r#"say "hi" \ o/"#]);
        assert_eq!(segments("  org_role \n"), ["org_role"]);
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "", ".", "a.", ".a", "a..b", r#""open"#, r#""a"b"#, r#"a"b""#, "a b", r#""""#,
            r#""\n""#,
        ] {
            assert!(bad.parse::<ClaimPath>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn lookup_follows_the_segments() {
        let claims = json!({
            "app_metadata": {"org_id": "a"},
            "https://furnitureops.example/org_id": "b",
            "https://furnitureops.example/app": {"org_id": "c"},
            "org_id": "d",
        });
        let claims = claims.as_object().expect("an object");
        let at = |raw: &str| raw.parse::<ClaimPath>().ok()?.lookup(claims).cloned();
        assert_eq!(at("app_metadata.org_id"), Some(json!("a")));
        assert_eq!(
            at(r#""https://furnitureops.example/org_id""#),
            Some(json!("b"))
        );
        assert_eq!(
            at(r#""https://furnitureops.example/app".org_id"#),
            Some(json!("c"))
        );
        assert_eq!(at("org_id"), Some(json!("d")));
        // Unquoted, the namespaced key is split at its dots and names nothing.
        assert_eq!(at("https://furnitureops.example/org_id"), None);
        assert_eq!(at("app_metadata.role"), None);
        assert_eq!(at("org_id.deeper"), None);
    }
}
