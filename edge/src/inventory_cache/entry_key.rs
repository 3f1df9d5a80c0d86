//! Where an inventory answer is cached: the key holds the organization id as well as the host
//! and path, so two shops can never share an entry.

use uuid::Uuid;

/// Path prefixes of the two copies of an answer in the Cache API.
const FRESH: &str = "__edge-cache";
const LAST_GOOD: &str = "__edge-last-good";

/// Which cached answer: the shop it belongs to and the cache URL it is stored under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryKey {
    pub org_id: Uuid,
    pub url: String,
}

impl EntryKey {
    pub fn new(host: &str, org_id: Uuid, api_path: &str, query: Option<&str>) -> Self {
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        Self {
            org_id,
            url: format!("https://{host}/{FRESH}/{org_id}/{api_path}{query}"),
        }
    }

    /// Where the last good copy of the same answer is kept.
    pub fn last_good_url(&self) -> String {
        self.url
            .replacen(&format!("/{FRESH}/"), &format!("/{LAST_GOOD}/"), 1)
    }
}
