//! Access tokens from an external OpenID Connect provider (Keycloak, for instance), checked
//! against the provider's JSON Web Key Set.
//!
//! The key set is fetched at the first token and again when a token names a key id the set
//! lacks (the provider rotated its keys), at most once per `jwks_min_refresh_seconds`. A token
//! must be signed by a key of the set (RS256/RS384/RS512, ES256/ES384, EdDSA, per the key), be
//! unexpired, and carry the configured issuer and audience. The tenant and the roles come from
//! the configured claims; roles so given hold on the whole tenant.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::RwLock;
use uuid::Uuid;

use super::Role;
use crate::config::OidcConfig;

/// Who an external token says the caller is.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    pub subject: String,
    pub tenant: Option<Uuid>,
    pub platform_admin: bool,
    pub roles: Vec<Role>,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("fetching the key set from {url}: {message}")]
    Fetch { url: String, message: String },
    #[error("the token names no key of the provider's key set")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("claim {claim}: {message}")]
    Claim { claim: String, message: String },
}

impl OidcError {
    /// Whether the provider, not the token, is at fault.
    pub fn is_provider_failure(&self) -> bool {
        matches!(self, OidcError::Fetch { .. })
    }
}

#[derive(Debug)]
struct CachedKeys {
    keys: JwkSet,
    fetched_at: Instant,
}

/// Verifies external access tokens.
#[derive(Debug)]
pub struct OidcVerifier {
    config: OidcConfig,
    client: reqwest::Client,
    keys: RwLock<Option<CachedKeys>>,
}

impl OidcVerifier {
    pub fn new(config: OidcConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            config,
            client,
            keys: RwLock::new(None),
        }
    }

    /// Checks `token` and reads the identity from its claims.
    pub async fn verify(&self, token: &str) -> Result<ExternalIdentity, OidcError> {
        let header = jsonwebtoken::decode_header(token)?;
        let kid = header.kid.clone();
        let jwk = match self.find_key(kid.as_deref()).await {
            Some(jwk) => jwk,
            None => {
                self.refresh().await?;
                self.find_key(kid.as_deref())
                    .await
                    .ok_or(OidcError::UnknownKey)?
            }
        };
        let key = DecodingKey::from_jwk(&jwk)?;
        // The header's algorithm must suit the key's family; `decode` refuses it otherwise.
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation)?
                .claims;
        self.identity(&claims)
    }

    fn identity(
        &self,
        claims: &serde_json::Map<String, Value>,
    ) -> Result<ExternalIdentity, OidcError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Claim {
                claim: "sub".to_owned(),
                message: "missing or not a string".to_owned(),
            })?
            .to_owned();
        let tenant = match claims.get(&self.config.tenant_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                Some(Uuid::parse_str(text).map_err(|e| OidcError::Claim {
                    claim: self.config.tenant_claim.clone(),
                    message: e.to_string(),
                })?)
            }
            Some(_) => {
                return Err(OidcError::Claim {
                    claim: self.config.tenant_claim.clone(),
                    message: "not a string".to_owned(),
                });
            }
        };
        let names: Vec<&str> = match claims.get(&self.config.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(_) => {
                return Err(OidcError::Claim {
                    claim: self.config.roles_claim.clone(),
                    message: "not a list of strings".to_owned(),
                });
            }
        };
        let platform_admin = names.contains(&"platform_admin");
        // Unknown role names are ignored: a provider's tokens carry many roles not ours.
        let roles = names.iter().filter_map(|name| Role::parse(name)).collect();
        if !platform_admin && tenant.is_none() {
            return Err(OidcError::Claim {
                claim: self.config.tenant_claim.clone(),
                message: "a token without platform_admin must name a tenant".to_owned(),
            });
        }
        Ok(ExternalIdentity {
            subject,
            tenant: if platform_admin { None } else { tenant },
            platform_admin,
            roles,
        })
    }

    async fn find_key(&self, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
        let cached = self.keys.read().await;
        let keys = &cached.as_ref()?.keys;
        match kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        }
    }

    async fn refresh(&self) -> Result<(), OidcError> {
        let mut cached = self.keys.write().await;
        let min = Duration::from_secs(self.config.jwks_min_refresh_seconds);
        if let Some(existing) = cached.as_ref()
            && existing.fetched_at.elapsed() < min
        {
            return Ok(());
        }
        let fail = |message: String| OidcError::Fetch {
            url: self.config.jwks_url.clone(),
            message,
        };
        let response = self
            .client
            .get(&self.config.jwks_url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("status {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| fail(e.to_string()))?;
        let keys: JwkSet = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
        *cached = Some(CachedKeys {
            keys,
            fetched_at: Instant::now(),
        });
        Ok(())
    }
}
