//! Sign-in: the user an e-mail names in a tenant (or among platform admins), and the
//! lockouts of failed attempts. Platform-scoped: the request is what finds the tenant.

use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::db::{DbError, Tx};

/// The latest lockout of `account` from `address` or from every address (`every`).
pub async fn locked_until(
    tx: &mut Tx,
    account: &str,
    address: &str,
    every: &str,
) -> Result<Option<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT MAX(locked_until) FROM login_failures \
         WHERE account = $1 AND (address = $2 OR address = $3)",
    )
    .bind(account.to_owned())
    .bind(address.to_owned())
    .bind(every.to_owned())
    .fetch_one(&mut **tx)
    .await?)
}

macro_rules! find_user {
    ($filter:literal) => {
        concat!(
            "SELECT u.id, u.tenant_id, u.password_hash, u.status, t.status AS tenant_status \
             FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id WHERE u.email = $1 AND ",
            $filter
        )
    };
}

/// The user with `email` in `tenant` (among platform admins for none): `id`, `tenant_id`,
/// `password_hash`, `status`, `tenant_status`.
pub async fn user_by_email(
    tx: &mut Tx,
    tenant: Option<Uuid>,
    email: &str,
) -> Result<Option<AnyRow>, DbError> {
    let row = match tenant {
        Some(tenant) => {
            sqlx::query(find_user!("u.tenant_id = $2"))
                .bind(email.to_owned())
                .bind(tenant.to_string())
                .fetch_optional(&mut **tx)
                .await
        }
        None => {
            sqlx::query(find_user!("u.tenant_id IS NULL"))
                .bind(email.to_owned())
                .fetch_optional(&mut **tx)
                .await
        }
    }?;
    Ok(row)
}
