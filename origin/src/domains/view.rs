//! A stored domain as its owner sees it (`api::domains::Domain`): what to put in DNS, where it
//! stands, and why. The challenges are shown until the hostname is live.

use api::domains::{
    CnameRecord, Domain, HttpChallenge, TxtChallenge, Verification, CHALLENGE_PREFIX,
};

use super::{settings::DomainSettings, store::DomainRow};

/// The label under a hostname whose TXT record proves ownership.
pub const TXT_LABEL: &str = "_furnitureops";

/// The TXT record's name for `host`.
pub fn txt_name(host: &str) -> String {
    format!("{TXT_LABEL}.{host}")
}

/// The path the edge answers a claim's HTTP challenge on.
pub fn challenge_path(token: &str) -> String {
    format!("{CHALLENGE_PREFIX}{token}")
}

/// `row` in the owner's words.
pub fn domain(row: &DomainRow, settings: &DomainSettings) -> Domain {
    Domain {
        hostname: row.host.clone(),
        status: row.status.into(),
        primary: row.is_primary,
        cname: CnameRecord {
            name: row.host.clone(),
            target: settings.cname_target.clone(),
        },
        verification: verification(row),
        certificate: row.certificate_status.clone(),
        last_checked_at: row.last_checked_at.map(|at| at.to_rfc3339()),
        reason: row.reason.clone(),
        expires_at: row.expires_at.map(|at| at.to_rfc3339()),
    }
}

fn verification(row: &DomainRow) -> Option<Verification> {
    if row.status == super::store::StoredStatus::Active {
        return None;
    }
    Some(Verification {
        http: HttpChallenge {
            path: challenge_path(row.http_token.as_deref()?),
            body: row.http_body.clone()?,
        },
        txt: TxtChallenge {
            name: txt_name(&row.host),
            value: row.txt_value.clone()?,
        },
        txt_required: row.txt_required,
    })
}
