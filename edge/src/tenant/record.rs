//! What the edge keeps about a host: the origin's answer and until when it may be trusted
//! without asking again.
//!
//! In the `TENANT_DOMAINS` KV namespace a host's value is either a bare org id, as
//! `origin tenant export-kv` writes it (an operator's entry: trusted as is, never re-asked), or
//! the JSON of a `Record` the edge wrote after asking the origin. KV's own expiry cannot be
//! shorter than 60 s, so the record carries its own `fresh_until_ms`: past it the edge asks
//! the origin again, and keeps using the record only if the origin cannot be asked.

use api::domains::HostLookup;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub lookup: HostLookup,
    /// Until when (ms since the epoch) the answer is used without asking the origin;
    /// `u64::MAX` for an operator's entry.
    pub fresh_until_ms: u64,
}

impl Record {
    /// An answer trusted until `fresh_until_ms`.
    pub fn new(lookup: HostLookup, fresh_until_ms: u64) -> Self {
        Self {
            lookup,
            fresh_until_ms,
        }
    }

    /// No shop and no challenge, until `fresh_until_ms`.
    pub fn nothing(fresh_until_ms: u64) -> Self {
        Self::new(HostLookup::default(), fresh_until_ms)
    }

    pub fn is_fresh(&self, now_ms: u64) -> bool {
        self.fresh_until_ms > now_ms
    }

    /// An operator's entry (a bare org id in KV): the edge never asks the origin about it.
    pub fn is_pinned(&self) -> bool {
        self.fresh_until_ms == u64::MAX
    }

    /// A KV value: a bare org id, or a record's JSON; `None` for anything else.
    pub fn from_kv(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(org_id) = Uuid::parse_str(raw) {
            let lookup = HostLookup {
                org_id: Some(org_id),
                ..HostLookup::default()
            };
            return Some(Self::new(lookup, u64::MAX));
        }
        serde_json::from_str(raw).ok()
    }

    pub fn to_kv(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use api::domains::HttpChallenge;

    use super::*;

    #[test]
    fn a_bare_org_id_is_an_operators_entry() {
        let org_id = Uuid::new_v4();
        let record = Record::from_kv(&format!("{org_id}\n")).unwrap();
        assert_eq!(record.lookup.org_id, Some(org_id));
        assert!(record.is_pinned() && record.is_fresh(u64::MAX - 1));
    }

    #[test]
    fn a_record_survives_kv_and_goes_stale_at_its_time() {
        let record = Record::new(
            HostLookup {
                org_id: Some(Uuid::new_v4()),
                primary: Some("chairs.acme.test".into()),
                challenges: vec![HttpChallenge {
                    path: "/.well-known/furnitureops-domain/t".into(),
                    body: "b".into(),
                }],
            },
            1_000,
        );
        let back = Record::from_kv(&record.to_kv()).unwrap();
        assert_eq!(back, record);
        assert!(back.is_fresh(999) && !back.is_fresh(1_000) && !back.is_pinned());
        assert_eq!(Record::from_kv("not a record"), None);
    }
}
