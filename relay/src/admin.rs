//! `dipper-relay admin create`: the first platform admin, made from the command line (there
//! is no default account and no default password).

use uuid::Uuid;

use crate::api::types::{Email, Password};
use crate::audit;
use crate::auth::password::{PasswordError, PasswordHasher};
use crate::db::{Db, DbError, Mode, Scope};
use crate::store::users;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("email: {0}")]
    Email(String),
    #[error("password: {0}")]
    Password(String),
    #[error("a user with email {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Hash(#[from] PasswordError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for AdminError {
    fn from(error: sqlx::Error) -> Self {
        AdminError::Db(error.into())
    }
}

/// Creates a platform admin and returns its id.
pub async fn create_platform_admin(
    db: &Db,
    hasher: &PasswordHasher,
    email: &str,
    password: String,
) -> Result<Uuid, AdminError> {
    let email = Email::parse(email).map_err(AdminError::Email)?;
    let password = Password::parse(password).map_err(AdminError::Password)?;
    let hash = hasher.hash(password.into_inner()).await?;
    let id = Uuid::new_v4();
    let mut tx = db.begin(Scope::Platform, Mode::Write).await?;
    let admin = users::NewUser {
        id,
        tenant: None,
        email: email.as_str(),
        display_name: email.as_str(),
        password_hash: &hash,
    };
    users::insert(&mut tx, admin).await.map_err(|e| match e {
        DbError::Constraint(_) => AdminError::Exists(email.as_str().to_owned()),
        other => AdminError::Db(other),
    })?;
    audit::write(
        &mut tx,
        audit::Entry {
            tenant: None,
            actor: "cli",
            remote_addr: "local",
            action: "admin.create",
            target: &format!("user:{id}"),
            outcome: "success",
            detail: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
