//! A tenant's creation as a saga: the tenant's row, then each resource the tenant needs
//! outside it (its object-storage prefix; its group on the broker when the relay has one,
//! else a reserved name; its face library), every step with a compensation that undoes it.
//!
//! The request carries an idempotency key. Its row in `tenant_creations` is written with the
//! tenant's row in the first transaction, so two requests with one key never make two
//! tenants: the second finds the first's outcome (or, while it runs, is told to retry). If a
//! step fails, the steps done so far are compensated in reverse order and the tenant's row is
//! deleted, leaving nothing half-made; the key may then be retried. A creation found still
//! running after [`STALE_AFTER_MS`] (its process died) is compensated and run again by the
//! next request with its key. Deleting a tenant runs the same compensations. A creation's
//! answer names the steps it ran, in order, with how long each took (the console shows them).

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit;
use crate::auth::Principal;
use crate::auth::tokens::{new_secret, secret_digest};
use crate::broker::{BrokerAdmin, BrokerError};
use crate::db::{Db, DbError, Mode, Scope, Tx, now_ms};
use crate::error::ApiError;
use crate::objects::{ObjectKey, ObjectStore};
use crate::store::people;
use crate::store::tenant_creations as creations;
use crate::store::tenants;

/// How long a creation may stay `running` before another request takes it over.
pub const STALE_AFTER_MS: i64 = 5 * 60 * 1000;

/// A boxed future, as trait objects return.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>>;

/// A step's failure, with the step's words for it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

impl From<DbError> for StepError {
    fn from(error: DbError) -> Self {
        StepError(error.to_string())
    }
}

impl From<sqlx::Error> for StepError {
    fn from(error: sqlx::Error) -> Self {
        DbError::from(error).into()
    }
}

/// One step of the creation: makes one of the tenant's resources, and undoes it. Both must be
/// safe to repeat (a compensation may run for a step whose apply never finished).
pub trait SagaStep: Send + Sync + Debug {
    /// The step's name, in logs and errors.
    fn name(&self) -> &'static str;
    fn apply<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a>;
    fn compensate<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a>;
}

/// A resource recorded in `tenant_resources`, made by a provider that arrives with a later
/// issue (the object store, the MQTT broker): today the step reserves the resource's name
/// and, for credentials, stores the digest of a fresh secret.
#[derive(Debug)]
struct RecordedResource {
    kind: &'static str,
    reference: fn(Uuid) -> String,
}

impl SagaStep for RecordedResource {
    fn name(&self) -> &'static str {
        self.kind
    }

    fn apply<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async move {
            let reference = (self.reference)(tenant);
            record_resource(db, tenant, self.kind, reference).await
        })
    }

    fn compensate<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async move { forget_resource(db, tenant, self.kind).await })
    }
}

/// The kind of the broker step's resource.
const BROKER_STEP: &str = "broker_credentials";

/// The tenant's group on the broker (every box of the tenant joins it at activation), made
/// through the dynamic security plugin and recorded in `tenant_resources`; undone by deleting
/// the group and every box identity in it. Both are idempotent on the broker's side.
#[derive(Debug)]
struct BrokerGroup {
    admin: BrokerAdmin,
}

impl SagaStep for BrokerGroup {
    fn name(&self) -> &'static str {
        BROKER_STEP
    }

    fn apply<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async move {
            self.admin
                .create_tenant(tenant)
                .await
                .map_err(broker_failed)?;
            let reference = format!("group={}", crate::broker::tenant_group(tenant));
            record_resource(db, tenant, BROKER_STEP, reference).await
        })
    }

    fn compensate<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async move {
            self.admin
                .delete_tenant(tenant)
                .await
                .map_err(broker_failed)?;
            forget_resource(db, tenant, BROKER_STEP).await
        })
    }
}

/// The kind of the face library step's resource.
const FACE_LIBRARY_STEP: &str = "face_library";

/// The tenant's face library: recorded in `tenant_resources` with the embedding model its
/// photos are embedded with (boxes of another model answer its searches `model_mismatch`);
/// undone by deleting every person and photo of the tenant and the photos' objects.
#[derive(Debug)]
struct FaceLibrary {
    objects: ObjectStore,
}

impl SagaStep for FaceLibrary {
    fn name(&self) -> &'static str {
        FACE_LIBRARY_STEP
    }

    fn apply<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async move {
            let reference = format!("model={}", pipeline::faces::ModelId::EMBEDDER.id());
            record_resource(db, tenant, FACE_LIBRARY_STEP, reference).await
        })
    }

    fn compensate<'a>(&'a self, db: &'a Db, tenant: Uuid) -> StepFuture<'a> {
        Box::pin(async move {
            let mut tx = db.begin(Scope::Tenant(tenant), Mode::Read).await?;
            let keys = people::all_photo_keys(&mut tx, tenant).await?;
            tx.commit().await?;
            // Objects first: a failure leaves the rows, so the compensation can run again.
            for key in keys {
                let key = ObjectKey::parse(&key).map_err(|e| StepError(format!("{e}")))?;
                self.objects
                    .delete(&key)
                    .await
                    .map_err(|e| StepError(format!("object store: {e}")))?;
            }
            let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
            people::delete_all(&mut tx, tenant).await?;
            creations::delete_resource(&mut tx, tenant, FACE_LIBRARY_STEP).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Records `tenant`'s resource of `kind` in `tenant_resources`, in its own transaction.
async fn record_resource(
    db: &Db,
    tenant: Uuid,
    kind: &str,
    reference: String,
) -> Result<(), StepError> {
    let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
    creations::insert_resource(&mut tx, tenant, kind, reference).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes `tenant`'s resource of `kind` from `tenant_resources`, in its own transaction.
async fn forget_resource(db: &Db, tenant: Uuid, kind: &str) -> Result<(), StepError> {
    let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
    creations::delete_resource(&mut tx, tenant, kind).await?;
    tx.commit().await?;
    Ok(())
}

fn broker_failed(error: BrokerError) -> StepError {
    StepError(format!("broker: {error}"))
}

/// The steps run after the tenant's row is written.
#[derive(Debug, Clone)]
pub struct TenantSaga {
    steps: Vec<Arc<dyn SagaStep>>,
}

/// What a creation request ended with.
#[derive(Debug)]
pub struct Created {
    pub tenant_id: Uuid,
    /// False when an earlier request with the same key made the tenant.
    pub new: bool,
    /// The steps run after the tenant's row, in order, every one done.
    pub steps: Vec<StepRun>,
}

/// A step a creation ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRun {
    /// [`SagaStep::name`].
    pub name: &'static str,
    /// How long its apply took; none when an earlier request with the key ran it.
    pub duration_ms: Option<u64>,
}

impl TenantSaga {
    /// The production steps of a relay without a broker.
    pub fn standard(objects: ObjectStore) -> Self {
        Self::with_broker(None, objects)
    }

    /// The production steps; with a broker, its step makes the tenant's group there.
    pub fn with_broker(broker: Option<BrokerAdmin>, objects: ObjectStore) -> Self {
        let storage: Arc<dyn SagaStep> = Arc::new(RecordedResource {
            kind: "object_storage_prefix",
            reference: |tenant| format!("tenants/{tenant}/"),
        });
        let broker: Arc<dyn SagaStep> = match broker {
            Some(admin) => Arc::new(BrokerGroup { admin }),
            None => Arc::new(RecordedResource {
                kind: BROKER_STEP,
                reference: |tenant| {
                    format!(
                        "user=tenant-{tenant} sha256={}",
                        secret_digest(&new_secret())
                    )
                },
            }),
        };
        let library: Arc<dyn SagaStep> = Arc::new(FaceLibrary { objects });
        Self {
            steps: vec![storage, broker, library],
        }
    }

    /// Adds a step after the others.
    pub fn with_step(mut self, step: Arc<dyn SagaStep>) -> Self {
        self.steps.push(step);
        self
    }

    /// Creates the tenant named `name` for the request keyed `key`, or finds the one an
    /// earlier request with that key made.
    pub async fn create(
        &self,
        db: &Db,
        principal: &Principal,
        key: &str,
        name: &str,
    ) -> Result<Created, ApiError> {
        let request_hash = {
            let digest = Sha256::digest(name.as_bytes());
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let tenant = Uuid::new_v4();
        if let Some(previous) = self.claim(db, key, &request_hash, tenant, name).await? {
            let steps = (self.steps.iter())
                .map(|step| StepRun {
                    name: step.name(),
                    duration_ms: None,
                })
                .collect();
            return Ok(Created {
                tenant_id: previous,
                new: false,
                steps,
            });
        }
        let steps = self.apply_steps(db, key, tenant).await?;
        finish(db, principal, key, tenant).await?;
        Ok(Created {
            tenant_id: tenant,
            new: true,
            steps,
        })
    }

    /// Records the creation under `key` as running for `tenant` and inserts the tenant's row
    /// as `creating`; or, when an earlier request with the key finished, its tenant.
    async fn claim(
        &self,
        db: &Db,
        key: &str,
        request_hash: &str,
        tenant: Uuid,
        name: &str,
    ) -> Result<Option<Uuid>, ApiError> {
        let now = now_ms();
        let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
        if let Some(previous) = creations::find(&mut tx, key).await? {
            if previous.request_hash != request_hash {
                return Err(ApiError::conflict(
                    crate::error::ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used for a different request",
                )
                .with_field("Idempotency-Key"));
            }
            match self.retake(db, tx, key, tenant, now, previous).await? {
                Retaken::Done(previous) => return Ok(Some(previous)),
                Retaken::Running(again) => tx = again,
            }
        } else {
            creations::insert(&mut tx, key, request_hash, tenant, now)
                .await
                .map_err(|e| match e {
                    // Another request with this key got in first.
                    DbError::Constraint(_) => creation_in_progress(),
                    other => other.into(),
                })?;
        }
        tenants::insert_creating(&mut tx, tenant, name, now).await?;
        tx.commit().await?;
        Ok(None)
    }

    /// An earlier request used `key`: its tenant if it finished; otherwise, unless it is
    /// still running, the creation taken over for `tenant` (after undoing a dead one's work).
    async fn retake(
        &self,
        db: &Db,
        mut tx: Tx,
        key: &str,
        tenant: Uuid,
        now: i64,
        previous: creations::Creation,
    ) -> Result<Retaken, ApiError> {
        match previous.state.as_str() {
            "done" => return Ok(Retaken::Done(previous.tenant)),
            "running" if now - previous.updated_at < STALE_AFTER_MS => {
                return Err(creation_in_progress());
            }
            "running" => {
                // Its process died midway: undo whatever it made before starting again.
                tx.rollback().await?;
                self.undo(db, previous.tenant, self.steps.len()).await?;
                tx = db.begin(Scope::Platform, Mode::Write).await?;
            }
            _ => {}
        }
        // Only if no other request took it over meanwhile.
        if !creations::take_over(&mut tx, key, &previous, tenant, now).await? {
            return Err(creation_in_progress());
        }
        Ok(Retaken::Running(tx))
    }

    /// Runs every step for `tenant`, timing each; on a failure undoes the steps run and
    /// marks the creation failed.
    async fn apply_steps(
        &self,
        db: &Db,
        key: &str,
        tenant: Uuid,
    ) -> Result<Vec<StepRun>, ApiError> {
        let mut runs = Vec::with_capacity(self.steps.len());
        for (done, step) in self.steps.iter().enumerate() {
            let started = std::time::Instant::now();
            let applied = step.apply(db, tenant).await;
            let elapsed = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if let Err(error) = applied {
                tracing::warn!(%tenant, step = step.name(), %error, "tenant creation step failed; compensating");
                self.undo(db, tenant, done + 1).await?;
                let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
                creations::set_state(&mut tx, key, "failed").await?;
                tx.commit().await?;
                return Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    crate::error::ErrorCode::TenantCreationFailed,
                    format!(
                        "creating the tenant failed at step {}; everything made was undone, \
                         retry with the same Idempotency-Key",
                        step.name()
                    ),
                )
                .with_retry_after(5));
            }
            runs.push(StepRun {
                name: step.name(),
                duration_ms: Some(elapsed),
            });
        }
        Ok(runs)
    }

    /// Compensates the first `count` steps in reverse order, then deletes the tenant's row
    /// (and, by cascade, everything in it).
    pub async fn undo(&self, db: &Db, tenant: Uuid, count: usize) -> Result<(), ApiError> {
        for step in self.steps.iter().take(count).rev() {
            let mut attempt = 0;
            loop {
                attempt += 1;
                match step.compensate(db, tenant).await {
                    Ok(()) => break,
                    Err(error) if attempt >= 3 => {
                        tracing::error!(%tenant, step = step.name(), %error,
                            "compensation failed three times; the creation stays running and is retried");
                        return Err(ApiError::new(
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            crate::error::ErrorCode::TenantCreationFailed,
                            "undoing a failed tenant creation failed; retry later",
                        )
                        .with_retry_after(5));
                    }
                    Err(_) => {}
                }
            }
        }
        let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
        tenants::delete(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The number of steps, for [`TenantSaga::undo`] of a whole tenant.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// What an earlier request with the same key left.
enum Retaken {
    /// It made this tenant.
    Done(Uuid),
    /// It is taken over; the creation goes on in this transaction.
    Running(Tx),
}

fn creation_in_progress() -> ApiError {
    ApiError::conflict(
        crate::error::ErrorCode::CreationInProgress,
        "a creation with this Idempotency-Key is running; retry shortly",
    )
    .with_retry_after(1)
}

/// Enables the created tenant and records the creation as done, with its audit record.
async fn finish(db: &Db, principal: &Principal, key: &str, tenant: Uuid) -> Result<(), ApiError> {
    let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
    tenants::update(&mut tx, tenant, None, Some("enabled")).await?;
    creations::set_state(&mut tx, key, "done").await?;
    let target = tenant.to_string();
    audit::record(&mut tx, principal, Some(tenant), "tenant.create", &target).await?;
    tx.commit().await?;
    Ok(())
}
