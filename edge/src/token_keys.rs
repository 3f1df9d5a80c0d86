//! The keys the Worker checks tokens with, kept in isolate memory: `JWT_JWKS`, the provider's
//! set from `JWT_JWKS_URL`, or both, and what a token must say (issuer, audiences, where the
//! shop and role live: `api::token::claim_map`, read from the same settings as the origin's). The rules for fetching the provider's set again (its
//! `max-age` within bounds, one fetch per `MISS_INTERVAL` for unknown `kid`s, the last good set
//! kept for `STALE_LIMIT` while the provider is down, then 503) are `api::token::key_refresh`,
//! the same the origin follows.
//!
//! Requests of an isolate that need a fetch at the same moment share one (`single_flight`), so a
//! rotation seen by fifty requests at once costs the provider one request. HS256 is checked in
//! the wasm; the other algorithms by WebCrypto (`web_crypto`).

use std::{cell::RefCell, rc::Rc};

use api::token::{
    claim_map::{
        DEFAULT_ADMIN_ROLES, DEFAULT_ORG_CLAIM, DEFAULT_ROLE_CLAIM, DEFAULT_SHOPPER_ROLES,
    },
    key_refresh::{freshness, FetchRecord, FETCH_DEADLINE, MAX_JWKS_BYTES},
    Acceptance, ClaimMap, KeySet, Strictness, TokenError, TokenVerifier, VerifiedToken,
};
use chrono::{DateTime, Utc};
use futures::future::{select, Either};
use futures::StreamExt;
use std::pin::pin;
use worker::{
    AbortController, Date, Delay, Env, Fetch, Request, RequestInit, RequestRedirect, Url,
};

use crate::{single_flight, web_crypto};

/// Why no verdict on a token could be given.
#[derive(Debug)]
pub enum KeysError {
    Token(TokenError),
    /// A setting is missing or unusable (logged); the caller gets a 503.
    Misconfigured,
}

impl From<TokenError> for KeysError {
    fn from(err: TokenError) -> Self {
        Self::Token(err)
    }
}

#[derive(Debug)]
struct Keys {
    verifier: Rc<TokenVerifier>,
    /// The operator's own keys alone (`JWT_JWKS`), as first read.
    static_only: Rc<TokenVerifier>,
    record: FetchRecord,
    url: Option<Rc<str>>,
    static_jwks: Option<Rc<str>>,
}

thread_local! {
    static KEYS: RefCell<Option<Keys>> = const { RefCell::new(None) };
    static FETCHES: single_flight::SingleFlight<(), bool> = single_flight::SingleFlight::default();
}

#[derive(Debug, Clone, Copy)]
enum Reason {
    Due,
    UnknownKid,
}

/// Verifies `raw` as of `now` with the isolate's keys, fetching the provider's set when due.
pub async fn verify(env: &Env, raw: &str, now: DateTime<Utc>) -> Result<VerifiedToken, KeysError> {
    let (verifier, record, url, has_static) = current(env)?;
    if url.is_none() {
        return Ok(check(&verifier, raw, now).await?);
    }
    let verifier = if record.is_due(now_ms()) && refresh(Reason::Due).await {
        current(env)?.0
    } else {
        verifier
    };
    let record = KEYS.with(|keys| keys.borrow().as_ref().map(|k| k.record).unwrap_or_default());
    // Once the provider's set is too old to trust (a key may have been rotated out for a
    // leak), only the operator's own keys still count, if there are any.
    let verifier = if record.is_expired(now_ms()) {
        if !has_static {
            return Err(TokenError::KeysUnavailable.into());
        }
        static_only(env)?
    } else {
        verifier
    };
    match check(&verifier, raw, now).await {
        Err(TokenError::UnknownKeyId) if refresh(Reason::UnknownKid).await => {
            Ok(check(&current(env)?.0, raw, now).await?)
        }
        other => Ok(other?),
    }
}

async fn check(
    verifier: &TokenVerifier,
    raw: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedToken, TokenError> {
    verifier
        .verify_with_host(raw, now, web_crypto::verify)
        .await
}

type Current = (Rc<TokenVerifier>, FetchRecord, Option<Rc<str>>, bool);

/// The isolate's keys, read from the environment on first use.
fn current(env: &Env) -> Result<Current, KeysError> {
    let existing = KEYS.with(|keys| {
        keys.borrow().as_ref().map(|k| {
            let has_static = k.static_jwks.is_some();
            (k.verifier.clone(), k.record, k.url.clone(), has_static)
        })
    });
    if let Some(existing) = existing {
        return Ok(existing);
    }
    let read = |name: &str| {
        env.secret(name)
            .map(|s| s.to_string())
            .or_else(|_| env.var(name).map(|v| v.to_string()))
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let misconfigured = |what: String| {
        worker::console_error!("edge misconfigured: {what}");
        KeysError::Misconfigured
    };
    let static_jwks = read("JWT_JWKS");
    let url = read("JWT_JWKS_URL");
    if static_jwks.is_none() && url.is_none() {
        return Err(misconfigured(
            "neither JWT_JWKS nor JWT_JWKS_URL is set".into(),
        ));
    }
    let keys = KeySet::from_jwks_json(static_jwks.as_deref().unwrap_or(r#"{"keys":[]}"#))
        .map_err(|e| misconfigured(format!("JWT_JWKS: {e}")))?;
    let issuer = read("JWT_ISSUER").ok_or_else(|| misconfigured("JWT_ISSUER is not set".into()))?;
    let audiences =
        read("JWT_AUDIENCE").ok_or_else(|| misconfigured("JWT_AUDIENCE is not set".into()))?;
    let or = |name: &str, default: &str| read(name).unwrap_or_else(|| default.to_owned());
    let claims = ClaimMap::new(
        &or("JWT_ORG_CLAIM", DEFAULT_ORG_CLAIM),
        &or("JWT_ROLE_CLAIM", DEFAULT_ROLE_CLAIM),
        &or("JWT_ADMIN_ROLES", DEFAULT_ADMIN_ROLES),
        &or("JWT_SHOPPER_ROLES", DEFAULT_SHOPPER_ROLES),
    )
    .and_then(|claims| Acceptance::from_settings(&issuer, &audiences, claims))
    .map_err(|e| misconfigured(e.to_string()))?;
    if let Some(url) = &url {
        check_key_set_url(url).map_err(misconfigured)?;
    }
    let static_only = Rc::new(TokenVerifier::accepting(keys, claims));
    let built = Keys {
        verifier: static_only.clone(),
        static_only,
        record: FetchRecord::default(),
        url: url.map(Rc::from),
        static_jwks: static_jwks.map(Rc::from),
    };
    let current = (
        built.verifier.clone(),
        built.record,
        built.url.clone(),
        built.static_jwks.is_some(),
    );
    KEYS.with(|keys| *keys.borrow_mut() = Some(built));
    Ok(current)
}

/// The operator's own keys alone, for when the provider's set is too old to trust.
fn static_only(env: &Env) -> Result<Rc<TokenVerifier>, KeysError> {
    current(env)?;
    KEYS.with(|keys| keys.borrow().as_ref().map(|k| k.static_only.clone()))
        .ok_or(KeysError::Misconfigured)
}

/// `JWT_JWKS_URL` must be `https://` (plain `http://` only to a loopback address, as in
/// development): a set read in the clear could be swapped on the way, and whoever swaps it
/// signs every shop's admin tokens.
fn check_key_set_url(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|e| format!("JWT_JWKS_URL: {e}"))?;
    let loopback = api::edge_proof::is_loopback_host(url.host_str().unwrap_or_default());
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err("JWT_JWKS_URL must be https:// (plain http:// only to a loopback address)".into())
    }
}

/// Fetches the provider's set if the rules allow it now (or joins the fetch under way); `true`
/// when a new set is in use.
async fn refresh(reason: Reason) -> bool {
    let start = move || async move {
        let now = now_ms();
        let Some((url, static_jwks, record)) = KEYS.with(|keys| {
            keys.borrow()
                .as_ref()
                .and_then(|k| Some((k.url.clone()?, k.static_jwks.clone(), k.record)))
        }) else {
            return false;
        };
        let allowed = match reason {
            Reason::Due => record.is_due(now),
            Reason::UnknownKid => record.may_fetch_for_miss(now),
        };
        if !allowed {
            return false;
        }
        update(|k| match reason {
            Reason::Due => k.record.attempted(now),
            Reason::UnknownKid => k.record.attempted_for_miss(now),
        });
        let fetched = match fetch(&url).await {
            Ok(fetched) => fetched,
            Err(err) => {
                worker::console_error!(
                    "cannot fetch the token key set: {err}; keeping the last good one"
                );
                return false;
            }
        };
        let mut sources = Vec::new();
        if let Some(own) = &static_jwks {
            sources.push((&**own, Strictness::Strict));
        }
        sources.push((fetched.0.as_str(), Strictness::SkipUnsupported));
        match KeySet::from_sources(&sources) {
            Ok(set) => {
                update(|k| {
                    k.verifier = Rc::new(k.verifier.with_keys(set));
                    k.record.fetched(now_ms(), fetched.1);
                });
                true
            }
            Err(err) => {
                worker::console_error!(
                    "the provider's key set is not usable: {err}; keeping the last good one"
                );
                false
            }
        }
    };
    single_flight::share(&FETCHES, (), start, single_flight::worker_ticks()).await
}

fn update(change: impl FnOnce(&mut Keys)) {
    KEYS.with(|keys| {
        if let Some(keys) = keys.borrow_mut().as_mut() {
            change(keys);
        }
    });
}

/// One GET of the set within `FETCH_DEADLINE`: its body and how long it stays fresh.
async fn fetch(url: &str) -> Result<(String, std::time::Duration), String> {
    let url = Url::parse(url).map_err(|e| format!("JWT_JWKS_URL: {e}"))?;
    let cancel = AbortController::default();
    let signal = cancel.signal();
    let exchange = pin!(async move {
        // A redirect could lead anywhere, plain http included: the set comes from the
        // configured address or not at all (a 3xx is a failed fetch).
        let mut init = RequestInit::new();
        init.with_redirect(RequestRedirect::Manual);
        let request = Request::new_with_init(url.as_str(), &init)?;
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        let cache_control = response.headers().get("cache-control")?;
        if !(200..300).contains(&status) {
            return Ok((status, cache_control, None));
        }
        // Read against the cap as it arrives: a body that never ends costs at most the cap.
        let mut body = Vec::new();
        let mut chunks = response.stream()?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Ok((status, cache_control, None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok::<_, worker::Error>((status, cache_control, Some(body)))
    });
    match select(exchange, Delay::from(FETCH_DEADLINE)).await {
        Either::Left((Ok((status, cache_control, body)), _)) => {
            if !(200..300).contains(&status) {
                return Err(format!("the provider answered {status}"));
            }
            let Some(body) = body else {
                return Err(format!("the key set is larger than {MAX_JWKS_BYTES} bytes"));
            };
            let body = String::from_utf8(body).map_err(|_| "the key set is not UTF-8")?;
            Ok((body, freshness(cache_control.as_deref())))
        }
        Either::Left((Err(err), _)) => Err(err.to_string()),
        Either::Right(((), _)) => {
            cancel.abort();
            Err(format!("no answer within {FETCH_DEADLINE:?}"))
        }
    }
}

fn now_ms() -> u64 {
    Date::now().as_millis()
}
