//! Boxes offline too long: each active box offline for more than its tenant's
//! `box_offline_minutes` (and less than a week, so a box gone for good is noticed once and
//! then left alone) gets a `device.offline` notice, one per time it went offline.

use jiff::Timestamp;
use serde_json::json;

use crate::db::{Db, DbError, Mode, Scope};
use crate::notify;

/// How long after going offline a box is still noticed.
const NOTICED_WITHIN_MS: i64 = 7 * 86_400_000;

/// Writes the notices of the boxes offline too long as of `as_of`; how many boxes were
/// noticed (each at most once per time it went offline, however often this runs).
pub async fn notice(db: &Db, as_of: Timestamp) -> Result<u64, DbError> {
    let now = as_of.as_millisecond();
    let mut tx = db.begin(Scope::Platform, Mode::Read).await?;
    let found = crate::store::devices::offline_since(&mut tx, now, NOTICED_WITHIN_MS).await?;
    tx.commit().await?;
    let mut noticed = 0;
    for (tenant, device, name, since, time_zone) in found {
        let mut tx = db.begin(Scope::Tenant(tenant), Mode::Write).await?;
        let facts = json!({
            "tenant_name": super::standing::tenant_name(&mut tx, tenant).await?,
            "device_id": device,
            "device_name": name,
            "offline_since": since,
            "time_zone": time_zone,
        });
        let key = format!("{device}/{since}");
        let event = (notify::DEVICE_OFFLINE, key.as_str());
        let written = notify::notify(&mut tx, tenant, event, &facts, now).await?;
        tx.commit().await?;
        noticed += u64::from(written > 0);
    }
    Ok(noticed)
}
