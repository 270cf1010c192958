//! The relay's SQL, one file per resource. Every function takes the caller's transaction
//! (opened by [`crate::db::Db::begin`], which sets the tenant for row-level security on
//! PostgreSQL) and, for tenant data, the tenant id it filters on; handlers check roles and
//! write the audit record in the same transaction. Nothing here opens a transaction, checks a
//! role or answers HTTP: a function returns rows as typed values, or `None` for no row.

/// Reads one row's columns into a value: `read_row! { row => Type { field: kind("column"),
/// .. } }`, `kind` naming a [`Columns`] method. The table of a type's columns, as a derive
/// would write it.
macro_rules! read_row {
    ($row:ident => $ty:ident { $($field:ident: $kind:ident($column:literal)),* $(,)? }) => {
        Ok($ty { $($field: $row.$kind($column)?),* })
    };
}

/// `$1`, `$2`, ... of a query, in order: `params![tenant, id, name]`.
macro_rules! params {
    ($($param:expr),* $(,)?) => {
        vec![$($crate::store::Param::from($param)),*]
    };
}

/// The `visible(id)` common table expression: the areas under the grants of user `$2` in
/// tenant `$1`. Queries using it add `($3 = 1 OR ... IN (SELECT id FROM visible))`, `$3`
/// being 1 when the caller sees the whole tenant.
macro_rules! visible_areas {
    () => {
        "WITH RECURSIVE visible(id) AS ( \
     SELECT area_id FROM role_grants WHERE tenant_id = $1 AND user_id = $2 AND area_id IS NOT NULL \
     UNION \
     SELECT a.id FROM areas a JOIN visible v ON a.parent_id = v.id WHERE a.tenant_id = $1 ) "
    };
}

pub mod areas;
pub mod audit;
pub mod devices;
pub mod events;
pub mod grants;
pub mod invoices;
pub mod leases;
pub mod logins;
pub mod meters;
pub mod notifications;
pub mod people;
pub mod pricing_rules;
pub mod refresh_tokens;
pub mod reports;
pub mod rpcs;
pub mod searches;
pub mod secrets;
pub mod sessions;
pub mod software;
pub mod standing;
pub mod tenant_creations;
pub mod tenants;
pub mod uplink;
pub mod users;

use sqlx::Row as _;
use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::{Arguments as _, Decode, Type};
use uuid::Uuid;

use crate::api::types::rfc3339;
use crate::db::{DbError, Tx, parse_id};

/// Reads one row's columns as the relay writes them: ids as text, times as milliseconds.
#[derive(Clone, Copy)]
pub(crate) struct Columns<'r>(pub(crate) &'r AnyRow);

impl Columns<'_> {
    pub(crate) fn text(self, name: &str) -> Result<String, DbError> {
        Ok(self.0.try_get(name)?)
    }

    pub(crate) fn optional_text(self, name: &str) -> Result<Option<String>, DbError> {
        Ok(self.0.try_get(name)?)
    }

    pub(crate) fn id(self, name: &str) -> Result<Uuid, DbError> {
        parse_id(&self.text(name)?)
    }

    pub(crate) fn optional_id(self, name: &str) -> Result<Option<Uuid>, DbError> {
        self.optional_text(name)?
            .as_deref()
            .map(parse_id)
            .transpose()
    }

    /// A time column as RFC 3339.
    pub(crate) fn time(self, name: &str) -> Result<String, DbError> {
        Ok(rfc3339(self.0.try_get(name)?))
    }

    pub(crate) fn optional_time(self, name: &str) -> Result<Option<String>, DbError> {
        Ok(self.number::<Option<i64>>(name)?.map(rfc3339))
    }

    /// A 0/1 integer column as a boolean.
    pub(crate) fn flag(self, name: &str) -> Result<bool, DbError> {
        Ok(self.number::<i32>(name)? == 1)
    }

    /// An integer column (a time in milliseconds, a count, a flag).
    pub(crate) fn number<T>(self, name: &str) -> Result<T, DbError>
    where
        T: for<'a> Decode<'a, Any> + Type<Any>,
    {
        Ok(self.0.try_get(name)?)
    }
}

/// A query parameter, as the relay stores values: text (ids, names, digests, JSON, NULL), an
/// integer (times in milliseconds, counts, flags) or a float (scores, distances).
#[derive(Debug)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(i64),
    Int32(i32),
    Float(f64),
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(Some(value.to_owned()))
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(Some(value))
    }
}

impl From<Uuid> for Param {
    fn from(value: Uuid) -> Self {
        Param::Text(Some(value.to_string()))
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Text(None), Into::into)
    }
}

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<f64> for Param {
    fn from(value: f64) -> Self {
        Param::Float(value)
    }
}

impl From<i32> for Param {
    fn from(value: i32) -> Self {
        Param::Int32(value)
    }
}

fn arguments(params: Vec<Param>) -> Result<AnyArguments, DbError> {
    let mut arguments = AnyArguments::default();
    for param in params {
        let added = match param {
            Param::Text(value) => arguments.add(value),
            Param::Int(value) => arguments.add(value),
            Param::Int32(value) => arguments.add(value),
            Param::Float(value) => arguments.add(value),
        };
        added.map_err(|e| DbError::Other(sqlx::Error::Encode(e)))?;
    }
    Ok(arguments)
}

/// Runs the statement `sql`; the number of rows it changed.
pub(crate) async fn execute(
    tx: &mut Tx,
    sql: &'static str,
    params: Vec<Param>,
) -> Result<u64, DbError> {
    let query = sqlx::query_with(sql, arguments(params)?);
    Ok(query.execute(&mut **tx).await?.rows_affected())
}

/// The row `sql` selects by a key (so one at most), if any, read by `read`.
pub(crate) async fn fetch_optional<T>(
    tx: &mut Tx,
    sql: &'static str,
    params: Vec<Param>,
    read: fn(Columns<'_>) -> Result<T, DbError>,
) -> Result<Option<T>, DbError> {
    Ok(fetch_all(tx, sql, params, read).await?.pop())
}

/// Every row `sql` selects, read by `read`.
pub(crate) async fn fetch_all<T>(
    tx: &mut Tx,
    sql: &'static str,
    params: Vec<Param>,
    read: fn(Columns<'_>) -> Result<T, DbError>,
) -> Result<Vec<T>, DbError> {
    let query = sqlx::query_with(sql, arguments(params)?);
    let rows = query.fetch_all(&mut **tx).await?;
    rows.iter().map(|row| read(Columns(row))).collect()
}

/// The first column of the row `sql` selects, if any.
pub(crate) async fn scalar<T>(
    tx: &mut Tx,
    sql: &'static str,
    params: Vec<Param>,
) -> Result<Option<T>, DbError>
where
    T: for<'a> Decode<'a, Any> + Type<Any> + Send + Unpin,
{
    let query = sqlx::query_scalar_with(sql, arguments(params)?);
    Ok(query.fetch_optional(&mut **tx).await?)
}

/// A row of a tenant's table, found by its id.
pub(crate) trait TenantRow: Sized {
    /// Selects the row: `$1` is the tenant, `$2` the id.
    const BY_ID: &'static str;
    fn read(row: Columns<'_>) -> Result<Self, DbError>;
}

/// The row `id` of `tenant`, or none.
pub(crate) async fn find<T: TenantRow>(
    tx: &mut Tx,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<T>, DbError> {
    fetch_optional(tx, T::BY_ID, params![tenant, id], T::read).await
}

/// A row of a tenant's table that hangs below an area, listed as the caller sees the areas.
pub(crate) trait VisibleRow: TenantRow {
    /// A page of the rows in the areas user `$2` sees (every area when `$3` is 1), `$4` and
    /// `$5` the limit and offset: a query using `visible_areas!`.
    const VISIBLE: &'static str;
}

/// A page of the rows of `tenant` in the areas `(user, all)` sees.
pub(crate) async fn list_visible<T: VisibleRow>(
    tx: &mut Tx,
    tenant: Uuid,
    (user, all): Visibility,
    (limit, offset): (i64, i64),
) -> Result<Vec<T>, DbError> {
    let params = params![tenant, user, all, limit, offset];
    fetch_all(tx, T::VISIBLE, params, T::read).await
}

/// Who sees which areas, for a query using `visible_areas!`: `$2`, the user, and `$3`, 1
/// when the caller sees the whole tenant.
pub type Visibility = (Option<String>, i32);

/// The row a query always returns (an aggregate, a `RETURNING`): its absence is the
/// database's fault.
pub(crate) fn required<T>(found: Option<T>) -> Result<T, DbError> {
    found.ok_or(DbError::Other(sqlx::Error::RowNotFound))
}
