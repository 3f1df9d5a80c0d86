//! What an inventory read asks for, in one canonical form.
//!
//! The cache keys an answer on what the read asks for, so a key must not be something a client
//! can vary at will: `?r=<random>`, `?limit=050`, a parameter twice or an upper-case item id
//! would each make a new key and a new origin request. Only the parameters the origin knows
//! (`limit`, `after`) are kept, checked against the same rules the origin applies (a malformed
//! one is refused here, `400`, without asking the origin), written in one way, in one order;
//! anything else in the query is dropped before the read is cached or forwarded.
//!
//! `after` must be a cursor the origin sealed for this shop (`api::cursor`): an invented or
//! edited one is refused here, so made-up pages cost neither a cache entry nor an origin query.
//! It is forwarded in its one canonical spelling, issued again from the item it names.

use api::{cursor::Cursors, inventory::INVENTORY_PAGE, routes};
use uuid::Uuid;
use worker::Env;

/// How this Worker checks cursors: sealed under the key derived from `EDGE_SHARED_SECRET`
/// (`edge_secret`), or bare without it.
pub fn cursors(env: &Env) -> Cursors {
    crate::edge_secret::trusted(env).map_or_else(|| Cursors::new(None), |keys| keys.cursors.clone())
}

/// A cacheable inventory read: the list (one page of it) or one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryRead {
    /// `after`: the canonical cursor of the page, once it opened.
    Page {
        limit: i64,
        after: Option<String>,
    },
    Item(Uuid),
}

impl InventoryRead {
    /// Reads `api_path` (`inventory` or `inventory/{id}`) and its query pairs, with cursors of
    /// shop `org_id` checked by `cursors`; the error is the problem's detail.
    pub fn parse(
        api_path: &str,
        query: impl IntoIterator<Item = (String, String)>,
        cursors: &Cursors,
        org_id: Uuid,
    ) -> Result<Self, String> {
        if let Some(id) = routes::param(routes::INVENTORY_ITEM, api_path) {
            return Uuid::parse_str(id)
                .map(Self::Item)
                .map_err(|_| "the item id is not a UUID".to_owned());
        }
        let (mut limit, mut after) = (None, None);
        for (name, value) in query {
            let slot = match name.as_str() {
                "limit" => &mut limit,
                "after" => &mut after,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(format!("{name} may be given once"));
            }
        }
        let limit = INVENTORY_PAGE.parse(limit.as_deref())?;
        let after = after
            .map(|raw| match cursors.open(org_id, &raw) {
                Ok(item_id) => Ok(cursors.issue(org_id, item_id)),
                Err(refused) => Err(refused.to_string()),
            })
            .transpose()?;
        Ok(Self::Page { limit, after })
    }

    /// The API path, with the item id written canonically.
    pub fn api_path(&self) -> String {
        match self {
            Self::Page { .. } => routes::INVENTORY.to_owned(),
            Self::Item(id) => routes::filled(routes::INVENTORY_ITEM, &id.to_string()),
        }
    }

    /// The canonical query: known parameters only, the default limit left out.
    pub fn query(&self) -> Option<String> {
        let Self::Page { limit, after } = self else {
            return None;
        };
        let mut pairs = Vec::new();
        if let Some(after) = after {
            pairs.push(format!("after={after}"));
        }
        if *limit != INVENTORY_PAGE.default {
            pairs.push(format!("limit={limit}"));
        }
        (!pairs.is_empty()).then(|| pairs.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOP: Uuid = Uuid::from_u128(7);

    fn parse(path: &str, query: &[(&str, &str)]) -> Result<InventoryRead, String> {
        parse_with(&Cursors::from_edge_secret(None), path, query)
    }

    fn parse_with(
        cursors: &Cursors,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<InventoryRead, String> {
        let pairs = query
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()));
        InventoryRead::parse(path, pairs, cursors, SHOP)
    }

    #[test]
    fn unknown_parameters_and_spellings_do_not_make_new_keys() {
        let plain = parse("inventory", &[]).unwrap();
        for query in [
            vec![("r", "123")],
            vec![("limit", "50")],
            vec![("limit", "050"), ("cache", "bust")],
        ] {
            let read = parse("inventory", &query).unwrap();
            assert_eq!(read, plain, "{query:?}");
            assert_eq!(read.query(), None);
        }
        let id = "5F0C6B9E-3B1A-4C1E-9D4A-2B7E0C1D2E3F";
        let page = parse("inventory", &[("x", "y"), ("limit", "7"), ("after", id)]).unwrap();
        assert_eq!(
            page.query().as_deref(),
            Some("after=5f0c6b9e-3b1a-4c1e-9d4a-2b7e0c1d2e3f&limit=7")
        );
        let item = parse(&format!("inventory/{id}"), &[("r", "1")]).unwrap();
        assert_eq!(
            item.api_path(),
            "inventory/5f0c6b9e-3b1a-4c1e-9d4a-2b7e0c1d2e3f"
        );
        assert_eq!(item.query(), None);
    }

    #[test]
    fn malformed_reads_are_refused() {
        for query in [
            vec![("limit", "0")],
            vec![("limit", "201")],
            vec![("limit", "many")],
            vec![("after", "nope")],
            vec![("limit", "5"), ("limit", "6")],
        ] {
            assert!(parse("inventory", &query).is_err(), "{query:?}");
        }
        assert!(parse("inventory/not-a-uuid", &[]).is_err());
    }

    #[test]
    fn with_sealed_cursors_only_an_issued_one_opens() {
        let cursors = Cursors::from_edge_secret(Some(b"edge secret"));
        let item = Uuid::from_u128(42);
        let issued = cursors.issue(SHOP, item);
        let page = parse_with(&cursors, "inventory", &[("after", &issued)]).unwrap();
        assert_eq!(page.query(), Some(format!("after={issued}")));
        let foreign = Cursors::from_edge_secret(Some(b"edge secret")).issue(Uuid::nil(), item);
        for after in [item.to_string(), foreign, format!("{issued}x")] {
            assert!(
                parse_with(&cursors, "inventory", &[("after", &after)]).is_err(),
                "{after}"
            );
        }
    }
}
