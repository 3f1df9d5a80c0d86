//! The `Authorization: Bearer <token>` header (RFC 6750), read one way by the edge and the origin.
//!
//! Both refuse a request without a usable token before verifying anything; if they disagreed on
//! what "usable" means, a header one side passes would be refused by the other.

/// The token an `Authorization` header value carries: what follows `Bearer ` (or `bearer `),
/// trimmed. `None` for another scheme or an empty token.
pub fn bearer_token(value: &str) -> Option<&str> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_token_follows_the_scheme_trimmed() {
        assert_eq!(bearer_token("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer   abc  "), Some("abc"));
    }

    #[test]
    fn another_scheme_or_no_token_is_none() {
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer    "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert_eq!(bearer_token("abc"), None);
        assert_eq!(bearer_token(""), None);
    }
}
