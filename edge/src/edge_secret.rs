//! The keys the Worker derives from `EDGE_SHARED_SECRET` (`api::edge_key`): one proves each
//! request it sends the origin (`api::edge_proof`), one seals the claims it verified
//! (`api::token::edge_claims`), one opens the write positions the origin issued
//! (`api::write_position`), one checks the inventory's page cursors (`api::cursor`). The secret itself is never sent anywhere.
//!
//! A secret too short to trust is worse than none: every seal made with it could be forged by
//! whoever guesses it. So the Worker does not use one; it answers every API call
//! `500 misconfigured` until an operator sets a strong secret (`gateway`). Without the secret
//! (development) nothing is proved or sealed, and the origin, which then has none either,
//! checks every token itself.
//!
//! A secret cannot change within an isolate (a new one runs after every deploy), so the keys
//! are derived once per isolate.

use std::{cell::OnceCell, rc::Rc};

use api::{
    cursor::Cursors,
    edge_key::{EdgeSecret, WeakSecret},
    edge_proof::EdgeProofKey,
    token::edge_claims::EdgeClaimsKey,
    write_position::WritePositionKey,
};
use worker::Env;

const SECRET: &str = "EDGE_SHARED_SECRET";

/// Every key derived from the shared secret.
#[derive(Debug)]
pub struct EdgeKeys {
    pub proofs: EdgeProofKey,
    pub claims: EdgeClaimsKey,
    pub positions: WritePositionKey,
    pub cursors: Cursors,
}

type Loaded = Result<Option<Rc<EdgeKeys>>, WeakSecret>;

thread_local! {
    static LOADED: OnceCell<Loaded> = const { OnceCell::new() };
}

/// The isolate's keys: `Ok(None)` without a secret, `Err` with one too short to trust.
pub fn keys(env: &Env) -> Loaded {
    LOADED.with(|loaded| loaded.get_or_init(|| load(env)).clone())
}

/// The keys, when a strong secret is set (a weak one was refused before this is asked).
pub fn trusted(env: &Env) -> Option<Rc<EdgeKeys>> {
    keys(env).ok().flatten()
}

fn load(env: &Env) -> Loaded {
    let Ok(raw) = env.secret(SECRET) else {
        return Ok(None);
    };
    let secret = EdgeSecret::new(&raw.to_string()).inspect_err(|weak| {
        worker::console_error!("{weak}; every API call is refused until it is fixed");
    })?;
    Ok(Some(Rc::new(EdgeKeys {
        proofs: EdgeProofKey::new(&secret),
        claims: EdgeClaimsKey::new(&secret),
        positions: WritePositionKey::new(&secret),
        cursors: Cursors::new(Some(&secret)),
    })))
}
