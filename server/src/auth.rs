//! Bearer-token verification. A token's `sub` is the user id; `exp` is
//! required; `aud` and `iss` are checked when configured. HS256 tokens are
//! checked against `JWT_SECRET`. Development mode mints tokens for any user
//! name (and uses a random secret when `JWT_SECRET` is unset).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::AppError;

/// The claims fieldsync reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Audience, when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer, when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Verifies (and in development mode mints) tokens.
pub struct Authenticator {
    secret: Option<Vec<u8>>,
    validation: Validation,
    dev_mode: bool,
}

impl Authenticator {
    /// From the configuration.
    pub fn new(config: &Config) -> Self {
        let secret = match (&config.jwt_secret, config.dev_mode) {
            (Some(secret), _) => Some(secret.as_bytes().to_vec()),
            (None, true) => Some(random_secret()),
            (None, false) => None,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        match &config.jwt_audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.jwt_issuer {
            validation.set_issuer(&[iss]);
        }
        Authenticator {
            secret,
            validation,
            dev_mode: config.dev_mode,
        }
    }

    /// The user of a bearer token.
    pub fn verify(&self, token: &str) -> Result<String, AppError> {
        let Some(secret) = &self.secret else {
            return Err(AppError::Unauthorized(
                "this server has no JWT_SECRET or JWKS_URL configured, so it cannot check tokens"
                    .into(),
            ));
        };
        let data = decode::<Claims>(token, &DecodingKey::from_secret(secret), &self.validation)
            .map_err(|e| {
                AppError::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired; get a new one".into(),
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
        Ok(data.claims.sub)
    }

    /// The user of an `Authorization: Bearer …` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<String, AppError> {
        let header = header.ok_or_else(|| {
            AppError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                AppError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        self.verify(token.trim())
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
            aud: self
                .validation
                .aud
                .as_ref()
                .and_then(|a| a.iter().next().cloned()),
            iss: self
                .validation
                .iss
                .as_ref()
                .and_then(|i| i.iter().next().cloned()),
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
