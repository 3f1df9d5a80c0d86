//! Token verification: size cap, key by `kid`, algorithm pinned by the key, signature, time
//! claims with skew, then issuer, audience, shop and role as the `Acceptance` says. Every
//! failure is a `TokenError`, which callers answer as its `kind()` says (`401` mostly); nothing
//! here can panic on hostile input.

use chrono::{DateTime, Duration, Utc};
#[cfg(feature = "native-crypto")]
use jwt_compact::alg::{Ed25519, Es256, Rsa};
use jwt_compact::{
    alg::Hs256, AlgorithmExt, Claims, TimeOptions, Token, UntrustedToken, ValidationError,
};

use super::{
    claim_map::{Acceptance, ProviderClaims},
    claims::TokenClaims,
    error::{TokenError, MAX_TOKEN_BYTES},
    keys::{KeyAlgorithm, KeySet, VerifyingKey},
};

/// Allowed clock difference between the issuer and us.
const CLOCK_SKEW_SECONDS: i64 = 30;

/// A token whose signature and claims checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub claims: TokenClaims,
    pub expires_at: DateTime<Utc>,
}

/// Checks tokens against one key set and what a token must say (`Acceptance`).
#[derive(Debug)]
pub struct TokenVerifier {
    keys: KeySet,
    acceptance: Acceptance,
}

/// A signature the host runtime must check (WebCrypto at the edge): the key's public JWK, the
/// algorithm its `kid` binds it to, and the bytes to check (owned, so the check may outlive
/// the borrow of the token). With `native-crypto` every key is checked in Rust and no host check
/// is ever asked for.
#[derive(Debug)]
pub struct HostCheck {
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    pub jwk: std::rc::Rc<serde_json::Value>,
    pub signing_input: Vec<u8>,
    pub signature: Vec<u8>,
}

impl TokenVerifier {
    /// One issuer and one audience, claims in the product's own layout.
    pub fn new(keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::accepting(keys, Acceptance::new(issuer, audience))
    }

    pub fn accepting(keys: KeySet, acceptance: Acceptance) -> Self {
        Self { keys, acceptance }
    }

    /// The same acceptance with another key set (after a rotation).
    pub fn with_keys(&self, keys: KeySet) -> Self {
        Self::accepting(keys, self.acceptance.clone())
    }

    pub fn acceptance(&self) -> &Acceptance {
        &self.acceptance
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// Verifies `raw` (the part after `Bearer `) as of `now`. Without `native-crypto` only
    /// HS256 keys are checked here; see `verify_with_host`.
    pub fn verify(&self, raw: &str, now: DateTime<Utc>) -> Result<VerifiedToken, TokenError> {
        let (untrusted, key) = self.prepare(raw)?;
        let claims = check_signature(key, &untrusted)?;
        self.check_claims(&claims, now)
    }

    /// Like `verify`, with signatures of asymmetric keys checked by `host`, which answers
    /// whether the signature is valid.
    pub async fn verify_with_host<F, Fut>(
        &self,
        raw: &str,
        now: DateTime<Utc>,
        host: F,
    ) -> Result<VerifiedToken, TokenError>
    where
        F: FnOnce(HostCheck) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let (untrusted, key) = self.prepare(raw)?;
        #[cfg(feature = "native-crypto")]
        let _ = host;
        #[cfg(feature = "native-crypto")]
        let claims = check_signature(key, &untrusted)?;
        #[cfg(not(feature = "native-crypto"))]
        let claims = match key {
            VerifyingKey::Host(algorithm, jwk) => {
                self.host_check(raw, &untrusted, *algorithm, jwk, host)
                    .await?
            }
            _ => check_signature(key, &untrusted)?,
        };
        self.check_claims(&claims, now)
    }

    #[cfg(not(feature = "native-crypto"))]
    async fn host_check<F, Fut>(
        &self,
        raw: &str,
        untrusted: &UntrustedToken<'_>,
        algorithm: KeyAlgorithm,
        jwk: &std::rc::Rc<serde_json::Value>,
        host: F,
    ) -> Result<Claims<ProviderClaims>, TokenError>
    where
        F: FnOnce(HostCheck) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let kid = untrusted.header().key_id.clone().unwrap_or_default();
        let signing_input = raw
            .rsplit_once('.')
            .map(|(input, _)| input.as_bytes().to_vec())
            .ok_or(TokenError::Malformed)?;
        let check = HostCheck {
            kid,
            algorithm,
            jwk: jwk.clone(),
            signing_input,
            signature: untrusted.signature_bytes().to_vec(),
        };
        if !host(check).await {
            return Err(TokenError::BadSignature);
        }
        untrusted
            .deserialize_claims_unchecked::<ProviderClaims>()
            .map_err(|_| TokenError::Malformed)
    }

    /// The parsed token and the key its `kid` names, whose algorithm the token must use.
    fn prepare<'r>(
        &'r self,
        raw: &'r str,
    ) -> Result<(UntrustedToken<'r>, &'r VerifyingKey), TokenError> {
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let untrusted = UntrustedToken::new(raw).map_err(|_| TokenError::Malformed)?;
        let kid = untrusted
            .header()
            .key_id
            .as_deref()
            .ok_or(TokenError::MissingKeyId)?;
        let key = self
            .keys
            .verifying_key(kid)
            .ok_or(TokenError::UnknownKeyId)?;
        if untrusted.algorithm() != key.algorithm().name() {
            return Err(TokenError::AlgorithmMismatch);
        }
        Ok((untrusted, key))
    }

    fn check_claims(
        &self,
        claims: &Claims<ProviderClaims>,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, TokenError> {
        let expires_at = check_times(claims, now)?;
        Ok(VerifiedToken {
            claims: self.acceptance.accept(&claims.custom)?,
            expires_at,
        })
    }
}

fn check_signature(
    key: &VerifyingKey,
    untrusted: &UntrustedToken<'_>,
) -> Result<Claims<ProviderClaims>, TokenError> {
    let checked = match key {
        VerifyingKey::Hs256(k) => Hs256.validator(k).validate(untrusted),
        #[cfg(feature = "native-crypto")]
        VerifyingKey::Es256(k) => Es256.validator(k).validate(untrusted),
        #[cfg(feature = "native-crypto")]
        VerifyingKey::EdDsa(k) => Ed25519.validator(k).validate(untrusted),
        #[cfg(feature = "native-crypto")]
        VerifyingKey::Rsa(KeyAlgorithm::Ps256, k) => Rsa::ps256().validator(k).validate(untrusted),
        #[cfg(feature = "native-crypto")]
        VerifyingKey::Rsa(_, k) => Rsa::rs256().validator(k).validate(untrusted),
        #[cfg(not(feature = "native-crypto"))]
        VerifyingKey::Host(..) => return Err(TokenError::BadSignature),
    };
    checked
        .map(|token: Token<ProviderClaims>| token.into_parts().1)
        .map_err(|err| match err {
            ValidationError::MalformedClaims(_) => TokenError::Malformed,
            ValidationError::AlgorithmMismatch { .. } => TokenError::AlgorithmMismatch,
            _ => TokenError::BadSignature,
        })
}

fn check_times(
    claims: &Claims<ProviderClaims>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, TokenError> {
    let skew = Duration::seconds(CLOCK_SKEW_SECONDS);
    let options = TimeOptions::new(skew, move || now);
    let expires_at = claims.expiration.ok_or(TokenError::MissingExpiry)?;
    claims
        .validate_expiration(&options)
        .map_err(|_| TokenError::Expired)?;
    if claims.not_before.is_some() {
        claims
            .validate_maturity(&options)
            .map_err(|_| TokenError::NotYetValid)?;
    }
    if claims.issued_at.is_some_and(|iat| iat > now + skew) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(expires_at)
}
