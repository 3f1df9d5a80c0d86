//! Reading the rate-limit fields of an answer (IETF draft httpapi-ratelimit-headers) with a
//! real structured-field parser, so tests check the syntax as well as the numbers.

use api::headers::{RATELIMIT, RATELIMIT_POLICY, RETRY_AFTER};
use reqwest::header::HeaderMap;
use sfv::{List, ListEntry, Parser};

/// One member of `RateLimit-Policy` or `RateLimit`: the policy name and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub policy: String,
    params: Vec<(String, i64)>,
}

impl Field {
    /// The integer parameter `key` (`q`, `w`, `r` or `t`).
    pub fn get(&self, key: &str) -> Option<i64> {
        self.params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    }
}

fn field(headers: &HeaderMap, name: &str) -> Option<Field> {
    let raw = headers.get(name)?.to_str().ok()?;
    let list: List = Parser::new(raw)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {raw:?} is not a structured field: {e}"));
    let Some(ListEntry::Item(item)) = list.into_iter().next() else {
        panic!("{name}: {raw:?} has no item");
    };
    let policy = item
        .bare_item
        .as_string()
        .unwrap_or_else(|| panic!("{name}: the policy of {raw:?} is not a string"))
        .as_str()
        .to_owned();
    let params = item
        .params
        .iter()
        .filter_map(|(key, value)| Some((key.as_str().to_owned(), value.as_integer()?.into())))
        .collect();
    Some(Field { policy, params })
}

/// `RateLimit-Policy`, if the answer has one.
pub fn policy(headers: &HeaderMap) -> Option<Field> {
    field(headers, RATELIMIT_POLICY)
}

/// `RateLimit`, if the answer has one.
pub fn ratelimit(headers: &HeaderMap) -> Option<Field> {
    field(headers, RATELIMIT)
}

/// `Retry-After` in seconds, if the answer has one.
pub fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers.get(RETRY_AFTER)?.to_str().ok()?.parse().ok()
}
