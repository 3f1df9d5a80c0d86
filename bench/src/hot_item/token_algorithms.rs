//! `--token-alg`: group commit over HTTP with the buyers' tokens signed HS256, ES256 or RS256,
//! each called two ways, side by side in one run:
//!
//! - **sealed**, as the Worker calls the origin: with the edge's proof, a request id, and the
//!   claims the edge verified sealed for that one request (`x-edge-claims`), which the origin
//!   opens with an HMAC whatever the token's algorithm. The bench seals them as the Worker does
//!   (`api::token::edge_claims`), on its own CPU: in production that work is the edge's.
//! - **direct**, a client calling the origin itself with the full JWT, which the origin then
//!   verifies: an ES256 or RS256 check costs it hundreds of microseconds, more than a purchase.
//!
//! HS256 always runs, as the baseline of both ways. Each algorithm runs twice per way, in the
//! order A B C C B A after an unmeasured warm-up, and its row adds both runs up: the server
//! slows as the tables grow, and no algorithm should be measured only early or only late. The
//! goal (issue 17): ES256 and RS256 within 10 % of HS256 on the sealed path.

use std::sync::Arc;

use api::{
    edge_key::EdgeSecret,
    edge_proof::EdgeProofKey,
    token::{
        edge_claims::{Binding, EdgeClaimsKey},
        KeyAlgorithm, KeySet, Role, TokenVerifier, VerifiedToken,
    },
};
use serde_json::{json, Value};

use super::{
    http::{bearer, spawn_server, Identify, IdentityHeaders},
    load::LoadResult,
    report::TokenRow,
    Bench, Options, ISSUER,
};
use origin::{
    operator::{
        dev_tokens::{mint_token, TokenRequest},
        signing_keys,
    },
    AppState, Settings,
};

/// Which algorithms' runs to add to the HTTP level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenAlg {
    Hs256,
    Es256,
    Rs256,
    /// HS256, ES256 and RS256.
    All,
}

impl TokenAlg {
    /// HS256 (the baseline) first, then the ones asked for.
    fn algorithms(self) -> Vec<KeyAlgorithm> {
        match self {
            Self::Hs256 => vec![KeyAlgorithm::Hs256],
            Self::Es256 => vec![KeyAlgorithm::Hs256, KeyAlgorithm::Es256],
            Self::Rs256 => vec![KeyAlgorithm::Hs256, KeyAlgorithm::Rs256],
            Self::All => vec![
                KeyAlgorithm::Hs256,
                KeyAlgorithm::Es256,
                KeyAlgorithm::Rs256,
            ],
        }
    }
}

/// How the buyers' requests reach the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Sealed,
    Direct,
}

impl Way {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Direct => "direct",
        }
    }
}

/// The edge secret the bench's origin shares with the bench acting as the edge.
const EDGE_SECRET: &str = "bench edge secret-0123456789abcdef012345";

fn edge_secret() -> EdgeSecret {
    EdgeSecret::new(EDGE_SECRET).unwrap_or_else(|_| unreachable!("the bench's secret is long"))
}

/// One algorithm's buyers: their tokens, and the claims the edge would have verified.
struct Buyers {
    algorithm: KeyAlgorithm,
    tokens: Arc<Vec<String>>,
    verified: Arc<Vec<VerifiedToken>>,
}

impl Bench {
    pub(super) async fn token_rows(&self, choice: TokenAlg) -> anyhow::Result<Vec<TokenRow>> {
        let mut public_keys: Vec<Value> = Vec::new();
        let mut signing = Vec::new();
        for algorithm in choice.algorithms() {
            let kid = format!("bench-{}", algorithm.name());
            let (private, public) = signing_keys::generate(algorithm, &kid)?;
            public_keys.push(public["keys"][0].clone());
            signing.push((algorithm, private));
        }
        let verifier = TokenVerifier::new(
            KeySet::from_jwks_json(&json!({ "keys": public_keys }).to_string())?,
            ISSUER,
            ISSUER,
        );
        let buyers: Vec<Buyers> = signing
            .into_iter()
            .map(|(algorithm, private)| self.buyers(algorithm, &private, &verifier))
            .collect::<anyhow::Result<_>>()?;
        let settings = Settings {
            queue_workers: 0,
            max_batch: self.opts.max_batch,
            ..Settings::default()
        };
        let state = AppState::with_settings(self.app.clone(), verifier, settings)
            .with_edge_secret(Some(edge_secret()));
        let url = spawn_server(origin::app(state)).await?;

        // The first run of a fresh server and item pays for warming them: an unmeasured one
        // does, so HS256 (always first) is not the one measured cold.
        if let Some(first) = buyers.first() {
            let item = self.new_item("TOKENS-WARM-UP").await?;
            let warm_up = Self {
                org_id: self.org_id,
                owner: self.owner.clone(),
                app: self.app.clone(),
                opts: Options {
                    seconds: self.opts.seconds.min(2.0),
                    ..self.opts
                },
            };
            let identify = self.identify(Way::Sealed, first);
            warm_up.http_load(&url, item, identify, false).await;
        }
        // Each algorithm runs twice, in the order A B C C B A: the server slows as the tables
        // grow, and this way every algorithm sees the same drift on average.
        let order: Vec<&Buyers> = buyers.iter().chain(buyers.iter().rev()).collect();
        let mut rows: Vec<TokenRow> = Vec::new();
        for way in [Way::Sealed, Way::Direct] {
            let mut runs: Vec<(KeyAlgorithm, LoadResult, bool)> = Vec::new();
            for (n, buyers) in order.iter().enumerate() {
                let name = buyers.algorithm.name();
                let item = self
                    .new_item(&format!("TOKENS-{name}-{}-{n}", way.name()))
                    .await?;
                let identify = self.identify(way, buyers);
                let result = self.http_load(&url, item, identify, false).await;
                let oversell = self.oversold(item, result.confirmed).await?;
                match runs.iter_mut().find(|(alg, ..)| *alg == buyers.algorithm) {
                    Some((_, earlier, oversold)) => {
                        earlier.add(result);
                        *oversold |= oversell;
                    }
                    None => runs.push((buyers.algorithm, result, oversell)),
                }
            }
            rows.extend(
                runs.into_iter()
                    .map(|(algorithm, result, oversell)| TokenRow {
                        algorithm,
                        way,
                        row: Self::row("http", "group-commit", result, oversell),
                    }),
            );
        }
        Ok(rows)
    }

    /// A token per buyer, signed with `private`, and its claims as a verifier reads them.
    fn buyers(
        &self,
        algorithm: KeyAlgorithm,
        private: &Value,
        verifier: &TokenVerifier,
    ) -> anyhow::Result<Buyers> {
        let signing = KeySet::from_jwks_json(&json!({ "keys": [private] }).to_string())?;
        let tokens: Vec<String> = (0..self.opts.concurrency)
            .map(|task| {
                mint_token(
                    &signing,
                    &TokenRequest {
                        org_id: self.org_id,
                        role: Role::Shopper,
                        sub: format!("token-buyer-{task}"),
                        issuer: ISSUER.into(),
                        audience: ISSUER.into(),
                        ttl: chrono::Duration::hours(1),
                        algorithm,
                    },
                )
            })
            .collect::<anyhow::Result<_>>()?;
        let now = chrono::Utc::now();
        let verified = tokens
            .iter()
            .map(|token| verifier.verify(token, now))
            .collect::<Result<_, _>>()?;
        Ok(Buyers {
            algorithm,
            tokens: Arc::new(tokens),
            verified: Arc::new(verified),
        })
    }

    /// The headers each request carries, the edge's way or a direct caller's. Both carry the
    /// edge's proof, so the origin (which holds the edge secret) takes them.
    fn identify(&self, way: Way, buyers: &Buyers) -> Identify {
        let direct = bearer(buyers.tokens.clone()).headers;
        let edge_proofs = Some(EdgeProofKey::new(&edge_secret()));
        match way {
            Way::Direct => Identify {
                headers: direct,
                edge_proofs,
            },
            Way::Sealed => {
                let key = EdgeClaimsKey::new(&edge_secret());
                let verified = buyers.verified.clone();
                let org_id = self.org_id;
                let path = format!("/api/tenant/{org_id}/buy");
                let headers: IdentityHeaders = Arc::new(move |task, n| {
                    let request_id = format!("bench-{task}-{n}");
                    let binding = Binding {
                        method: "POST",
                        path: &path,
                        org_id,
                        request_id: &request_id,
                    };
                    let sealed = key.seal(binding, &verified[task], chrono::Utc::now());
                    let mut headers = direct(task, n);
                    headers.push((api::headers::REQUEST_ID, request_id));
                    headers.push((api::token::edge_claims::HEADER, sealed));
                    headers
                });
                Identify {
                    headers,
                    edge_proofs,
                }
            }
        }
    }
}
