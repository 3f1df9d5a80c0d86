//! Token verifications per second at the origin, per algorithm: signature, time claims,
//! issuer, audience and the claim map, exactly what a request the origin checks in full pays
//! (one that comes through the Worker with sealed claims pays an HMAC instead). The Worker's
//! side is `worker_tokens`.

use std::time::{Duration, Instant};

use api::token::{KeyAlgorithm, KeySet, Role, TokenVerifier};
use uuid::Uuid;

use origin::{
    operator::dev_tokens::{mint_token, TokenRequest},
    operator::signing_keys,
};

const ISSUER: &str = "bench";
const AUDIENCE: &str = "bench";

pub fn run(seconds_per_algorithm: f64) -> anyhow::Result<()> {
    println!("token verification at the origin, one core, {seconds_per_algorithm} s per algorithm");
    println!("{:<8} {:>14} {:>12}", "alg", "verifies/s", "us/verify");
    for alg in [
        KeyAlgorithm::Hs256,
        KeyAlgorithm::Es256,
        KeyAlgorithm::EdDsa,
        KeyAlgorithm::Rs256,
    ] {
        let (private, public) = signing_keys::generate(alg, "bench")?;
        let signing =
            KeySet::from_jwks_json(&serde_json::json!({ "keys": [private] }).to_string())?;
        let verifier = TokenVerifier::new(
            KeySet::from_jwks_json(&public.to_string())?,
            ISSUER,
            AUDIENCE,
        );
        let token = mint_token(
            &signing,
            &TokenRequest {
                org_id: Uuid::new_v4(),
                role: Role::Shopper,
                sub: "bench-user".into(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
                ttl: chrono::Duration::hours(1),
                algorithm: alg,
            },
        )?;
        let budget = Duration::from_secs_f64(seconds_per_algorithm);
        let started = Instant::now();
        let mut verified = 0u64;
        while started.elapsed() < budget {
            for _ in 0..64 {
                verifier.verify(&token, chrono::Utc::now())?;
                verified += 1;
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{:<8} {:>14.0} {:>12.1}",
            alg.name(),
            verified as f64 / elapsed,
            elapsed * 1e6 / verified as f64
        );
    }
    Ok(())
}
