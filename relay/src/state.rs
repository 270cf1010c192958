//! What every handler shares: the database, the configuration and the services built from
//! it at start.

use crate::software::SoftwareSigner;
use std::sync::Arc;

use crate::auth::oidc::OidcVerifier;
use crate::auth::password::{PasswordError, PasswordHasher};
use crate::auth::tokens::TokenIssuer;
use crate::config::Config;
use crate::db::{Db, DbError};
use crate::faces::FaceEmbedder;
use crate::limits::RateLimits;
use crate::metering::Meters;
use crate::objects::{ObjectError, ObjectStore};
use crate::saga::TenantSaga;
use crate::uplink::{Uplink, UplinkError};

/// The shared state of one relay process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenIssuer>,
    pub passwords: Arc<PasswordHasher>,
    pub oidc: Option<Arc<OidcVerifier>>,
    pub limits: Arc<RateLimits>,
    /// The steps of a tenant's creation; tests add failing ones.
    pub tenant_saga: Arc<TenantSaga>,
    /// The link to the boxes through the broker, when `[broker]` is configured.
    pub uplink: Option<Uplink>,
    /// Snapshots and face photos: the relay's disk or an S3 bucket (`[objects]`).
    pub objects: ObjectStore,
    /// The face library's embedder (models loaded on first use).
    pub faces: FaceEmbedder,
    /// The API calls counted for billing, written by [`Meters::run`].
    pub meters: Meters,
    /// Signs box software packages; its public key goes to boxes at activation.
    pub software: SoftwareSigner,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Uplink(#[from] UplinkError),
    #[error("the object store ([objects]) failed its start check: {0}")]
    Objects(#[from] ObjectError),
}

impl AppState {
    /// Builds the services over a migrated database, checks the object store (its folder
    /// writable, or its bucket there), and connects to the broker when one is configured.
    pub async fn new(config: Config, db: Db) -> Result<Self, StateError> {
        let tokens = TokenIssuer::load(&db, config.auth.access_token_seconds).await?;
        let software = SoftwareSigner::load(&db).await?;
        let passwords = PasswordHasher::new(&config.auth.argon2)?;
        let oidc = config
            .oidc
            .clone()
            .map(|oidc| Arc::new(OidcVerifier::new(oidc)));
        let objects = ObjectStore::open(&config.objects, config.server.listen, &db).await?;
        objects.check().await?;
        tracing::debug!(backend = objects.backend_name(), "object store ready");
        let uplink = match &config.broker {
            Some(broker) => {
                let put_ttl = std::time::Duration::from_secs(config.objects.put_url_seconds);
                Some(Uplink::start(broker, db.clone(), (objects.clone(), put_ttl)).await?)
            }
            None => None,
        };
        let admin = uplink.as_ref().map(|u| u.admin().clone());
        Ok(Self {
            faces: FaceEmbedder::new(&config.faces),
            limits: Arc::new(RateLimits::new(&config.limits)),
            tenant_saga: Arc::new(TenantSaga::with_broker(admin, objects.clone())),
            uplink,
            objects,
            meters: Meters::new(db.clone()),
            software,
            db,
            tokens: Arc::new(tokens),
            passwords: Arc::new(passwords),
            oidc,
            config: Arc::new(config),
        })
    }
}
