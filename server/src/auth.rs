//! Bearer-token verification. A token's `sub` is the user id; `exp` is
//! required; a token is refused before its `nbf`. When `JWT_AUDIENCE` is
//! configured the token must carry `aud` — a string, or an array of strings
//! (RFC 7519 §4.1.3) — naming it; when `JWT_ISSUER` is, `iss` must be it. A
//! token without the claim is refused, not waved through.
//!
//! - HS256 tokens are checked against `JWT_SECRET`.
//! - EdDSA, ES256 and RS256 tokens are checked against the keys of
//!   `JWKS_URL`, chosen by the token's `kid`. Keys are cached; an unknown
//!   `kid` (a rotated key) triggers a refetch, at most once per
//!   [`JWKS_REFETCH`], so a flood of forged `kid`s cannot make the server
//!   hammer the identity provider.
//! - Development mode mints HS256 tokens for any user name (and uses a random
//!   secret when `JWT_SECRET` is unset).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::AppState;
use crate::config::Config;
use crate::error::AppError;

/// Least time between two JWKS fetches caused by unknown key ids.
pub const JWKS_REFETCH: Duration = Duration::from_secs(30);

/// The claims fieldsync reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Not before, seconds since the epoch, when the token has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Audience, when the token has one (`null` counts as none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Issuer, when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// A token's `aud`: one audience or several (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "api"`.
    One(String),
    /// `"aud": ["api", "other"]`.
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is among the token's.
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// A JWKS's keys, cached.
struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    /// When an unknown key id last caused a fetch (the rate limit).
    last_fetch: Mutex<Option<Instant>>,
}

impl Jwks {
    async fn fetch(&self) -> Result<usize, String> {
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot fetch JWKS_URL {}: {e}", self.url))?
            .json()
            .await
            .map_err(|e| format!("JWKS_URL {} did not return a JWK set: {e}", self.url))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (_, Some(alg)) => match alg {
                    KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
                    KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                    KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                    _ => None,
                },
                (AlgorithmParameters::OctetKeyPair(p), None)
                    if p.curve == EllipticCurve::Ed25519 =>
                {
                    Some(Algorithm::EdDSA)
                }
                (AlgorithmParameters::EllipticCurve(p), None) if p.curve == EllipticCurve::P256 => {
                    Some(Algorithm::ES256)
                }
                (AlgorithmParameters::RSA(_), None) => Some(Algorithm::RS256),
                _ => None,
            };
            let Some(alg) =
                alg.filter(|a| matches!(a, Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256))
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, alg));
            }
        }
        let n = keys.len();
        if let Ok(mut cached) = self.keys.write() {
            *cached = keys;
        }
        Ok(n)
    }

    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AppError> {
        if let Some(found) = self.keys.read().ok().and_then(|k| k.get(kid).cloned()) {
            return Ok(found);
        }
        let may_fetch = match self.last_fetch.lock() {
            Ok(mut last) if last.is_none_or(|t| t.elapsed() >= JWKS_REFETCH) => {
                *last = Some(Instant::now());
                true
            }
            _ => false,
        };
        if may_fetch && let Err(e) = self.fetch().await {
            tracing::warn!("{e}");
        }
        self.keys
            .read()
            .ok()
            .and_then(|k| k.get(kid).cloned())
            .ok_or_else(|| {
                AppError::Unauthorized(format!(
                    "the token's key id {kid:?} is not in the server's JWKS"
                ))
            })
    }
}

/// Verifies (and in development mode mints) tokens.
pub struct Authenticator {
    secret: Option<Vec<u8>>,
    jwks: Option<Jwks>,
    audience: Option<String>,
    issuer: Option<String>,
    dev_mode: bool,
}

impl Authenticator {
    /// From the configuration (fetching nothing yet; see [`Authenticator::prefetch`]).
    pub fn new(config: &Config) -> Self {
        let secret = match (&config.jwt_secret, config.dev_mode) {
            (Some(secret), _) => Some(secret.as_bytes().to_vec()),
            (None, true) => Some(random_secret()),
            (None, false) => None,
        };
        let jwks = config.jwks_url.as_ref().map(|url| Jwks {
            url: url.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
        });
        Authenticator {
            secret,
            jwks,
            audience: config.jwt_audience.clone(),
            issuer: config.jwt_issuer.clone(),
            dev_mode: config.dev_mode,
        }
    }

    /// Fetches the JWKS once at start-up (a failure is logged; the fetch is
    /// retried when a token needs a key).
    pub async fn prefetch(&self) {
        if let Some(jwks) = &self.jwks {
            match jwks.fetch().await {
                Ok(n) => tracing::info!("JWKS: {n} usable keys from {}", jwks.url),
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        let mut required = vec!["exp", "sub"];
        if self.audience.is_some() {
            required.push("aud");
        }
        if self.issuer.is_some() {
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        validation.leeway = 30;
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        validation
    }

    /// The user of a bearer token.
    pub async fn verify(&self, token: &str) -> Result<String, AppError> {
        let header = decode_header(token)
            .map_err(|e| AppError::Unauthorized(format!("the token is not a valid JWT ({e})")))?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => match &self.secret {
                Some(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
                None => {
                    return Err(AppError::Unauthorized(
                        "HS256 tokens are not accepted: this server has no JWT_SECRET".into(),
                    ));
                }
            },
            Algorithm::EdDSA | Algorithm::ES256 | Algorithm::RS256 => {
                let Some(jwks) = &self.jwks else {
                    return Err(AppError::Unauthorized(format!(
                        "{:?} tokens are not accepted: this server has no JWKS_URL",
                        header.alg
                    )));
                };
                let kid = header.kid.as_deref().ok_or_else(|| {
                    AppError::Unauthorized("the token has no `kid` header".into())
                })?;
                let (key, alg) = jwks.key(kid).await?;
                if alg != header.alg {
                    return Err(AppError::Unauthorized(format!(
                        "the token says {:?} but key {kid:?} is {alg:?}",
                        header.alg
                    )));
                }
                (key, alg)
            }
            other => {
                return Err(AppError::Unauthorized(format!(
                    "{other:?} tokens are not accepted (use EdDSA, ES256, RS256 or HS256)"
                )));
            }
        };
        let data = decode::<Claims>(token, &key, &self.validation(alg)).map_err(|e| {
            AppError::Unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired; get a new one".into(),
                ErrorKind::ImmatureSignature => {
                    "the token is not valid yet (its `nbf` is in the future); check the issuer's clock".into()
                }
                ErrorKind::InvalidAudience => {
                    "the token's `aud` is not this server's audience".into()
                }
                ErrorKind::InvalidIssuer => "the token's `iss` is not a trusted issuer".into(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token has no `{claim}` claim")
                }
                ErrorKind::InvalidSignature => "the token's signature does not match".into(),
                _ => format!("the token is not a valid JWT ({e})"),
            })
        })?;
        if data.claims.sub.is_empty() {
            return Err(AppError::Unauthorized("the token's `sub` is empty".into()));
        }
        // Checked here too, not only by the library: a missing or `null`
        // claim must never pass for a matching one.
        if let Some(audience) = &self.audience
            && !data
                .claims
                .aud
                .as_ref()
                .is_some_and(|a| a.contains(audience))
        {
            return Err(AppError::Unauthorized(format!(
                "the token's `aud` does not name this server's audience {audience:?}; get a token issued for it"
            )));
        }
        if let Some(issuer) = &self.issuer
            && data.claims.iss.as_deref() != Some(issuer.as_str())
        {
            return Err(AppError::Unauthorized(format!(
                "the token's `iss` is not the trusted issuer {issuer:?}"
            )));
        }
        Ok(data.claims.sub)
    }

    /// The user of an `Authorization: Bearer …` header value.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<String, AppError> {
        let header = header.ok_or_else(|| {
            AppError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        self.verify(token.trim()).await
    }

    /// Whether development mode is on.
    pub fn dev_mode(&self) -> bool {
        self.dev_mode
    }

    /// Mints an HS256 token for `user`, valid `ttl_secs` (development mode
    /// and tests).
    pub fn mint(&self, user: &str, ttl_secs: u64) -> Option<String> {
        let secret = self.secret.as_ref()?;
        let claims = Claims {
            sub: user.to_owned(),
            exp: now_secs() + ttl_secs,
            nbf: None,
            aud: self.audience.clone().map(Audience::One),
            iss: self.issuer.clone(),
        };
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .ok()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_secret() -> Vec<u8> {
    // Development only: uniqueness per process, not cryptographic strength.
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    (0..4)
        .flat_map(|i| {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(i ^ now_secs());
            h.finish().to_le_bytes()
        })
        .collect()
}

/// The user of a request's `Authorization: Bearer …` header. Handlers take
/// `Result<AuthUser, AppError>` where they check other things first (the
/// app id) or count refusals in their own metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser(pub String);

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state.auth.verify_header(header).await.map(AuthUser)
    }
}
