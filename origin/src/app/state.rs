//! What every handler can reach: the pools and the token verifier.

use std::{ops::Deref, sync::Arc};

use api::{cursor::Cursors, edge_key::EdgeSecret, write_position::WritePositionKey};
use rand_core::{OsRng, RngCore};
use sqlx::PgPool;

use super::probe_pools::ProbePools;
use crate::{
    config::{operations::OpsSettings, Settings},
    domains::DomainSettings,
    events::hub::EventHub,
    live_sale::{refusal_tally::RefusalTally, seconds::SaleWatch},
    purchase::{BatchTransaction, GroupCommitter},
    token_keys::TokenKeys,
    web::edge_trust::EdgeTrust,
};

/// Every handler and middleware takes a copy, several per request: one reference count.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

#[derive(Debug, Clone)]
pub struct Shared {
    /// Connected as the application role: row-level security applies.
    pub db: PgPool,
    pub tokens: TokenKeys,
    /// With `EDGE_SHARED_SECRET`: the edge's proofs are required on tenant routes and the
    /// claims it sealed are trusted (`web::edge_trust`).
    pub edge_trust: Option<EdgeTrust>,
    /// Seals the write positions this process hands out and opens those sent back: derived
    /// from the edge secret (so the edge and every origin share it), else made at start-up
    /// (honoured by this process only).
    pub write_positions: WritePositionKey,
    /// Seals the inventory's page cursors and opens those sent back (`api::cursor`): under a
    /// key derived from the edge secret, else bare item ids.
    pub cursors: Cursors,
    pub settings: Settings,
    pub committer: GroupCommitter,
    pub events: EventHub,
    /// The admins' live sale view, fed by `events`.
    pub sale_watch: SaleWatch,
    /// Purchases this process saw refused (and the edge reported), published once a second.
    pub refusals: RefusalTally,
    /// A streaming replica for reads (see `db::replica`), as the application role.
    pub replica: Option<PgPool>,
    /// A direct connection for session-bound work (the event listener's `LISTEN`) when `db`
    /// goes through a transaction pooler; `None`: `db` is direct and serves it too.
    pub session_db: Option<PgPool>,
    pub ops: OpsSettings,
    /// `/readyz` and `/metrics` read through these, never through the requests' pools.
    pub probes: ProbePools,
    /// Custom domains: the CNAME target, the platform's names, where the checks look.
    pub domains: DomainSettings,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(db: PgPool, tokens: impl Into<TokenKeys>) -> Self {
        Self::with_settings(db, tokens, Settings::default())
    }

    pub fn with_settings(db: PgPool, tokens: impl Into<TokenKeys>, settings: Settings) -> Self {
        let refusals = RefusalTally::default();
        let sale_watch = SaleWatch::default();
        Self(Arc::new(Shared {
            committer: GroupCommitter::counting_refusals(
                db.clone(),
                settings.max_batch,
                settings.batch_rules(BatchTransaction::Implicit),
                refusals.clone(),
            ),
            db,
            tokens: tokens.into(),
            edge_trust: None,
            write_positions: WritePositionKey::from_edge_secret(&random_bytes()),
            cursors: Cursors::from_edge_secret(None),
            events: EventHub::observed_by(settings.stream_caps, Arc::new(sale_watch.clone())),
            sale_watch,
            refusals,
            settings,
            replica: None,
            session_db: None,
            ops: OpsSettings::default(),
            probes: ProbePools::default(),
            domains: DomainSettings::default(),
        }))
    }

    /// Trusts the edge that holds `secret` (see `web::edge_trust`).
    pub fn with_edge_secret(mut self, secret: Option<EdgeSecret>) -> Self {
        let shared = Arc::make_mut(&mut self.0);
        if let Some(secret) = &secret {
            shared.write_positions = WritePositionKey::new(secret);
            shared.cursors = Cursors::new(Some(secret));
        }
        shared.edge_trust = secret.as_ref().map(EdgeTrust::new);
        self
    }

    /// Sends reads to `replica` (see `replica::begin_read`).
    pub fn with_replica(mut self, replica: Option<PgPool>) -> Self {
        Arc::make_mut(&mut self.0).replica = replica;
        self
    }

    /// Marks `db` as going through a transaction pooler: session-bound work gets the direct
    /// `session_db`, and purchase batches commit in explicit transactions (see
    /// `config::pooler`). `None` leaves everything on `db`.
    pub fn with_session_db(mut self, session_db: Option<PgPool>) -> Self {
        let shared = Arc::make_mut(&mut self.0);
        if session_db.is_some() {
            shared.committer = GroupCommitter::counting_refusals(
                shared.db.clone(),
                shared.settings.max_batch,
                shared.settings.batch_rules(BatchTransaction::Explicit),
                shared.refusals.clone(),
            );
        }
        shared.session_db = session_db;
        self
    }

    /// How custom domains are claimed and checked.
    pub fn with_domains(mut self, domains: DomainSettings) -> Self {
        Arc::make_mut(&mut self.0).domains = domains;
        self
    }

    /// Request deadline and log sampling.
    pub fn with_ops(mut self, ops: OpsSettings) -> Self {
        Arc::make_mut(&mut self.0).ops = ops;
        self
    }
}

/// A fresh secret for a process that shares none with the edge.
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes
}
