//! The operators: a tenant admin signed in, calling the API throughout the load from
//! `operators` kept-alive connections (`capacity::api`, each pausing [`PAUSE`] between
//! calls): all but one read (the device list, a device, the tenant, its areas, the caller,
//! the audit log, the searches), one writes (a box renamed: a change and its audit record).

use std::time::Duration;

use serde_json::json;

use crate::BoxError;
use crate::capacity::api::{Call, LoadReport, device_renames, load_paced, operator_reads};
use crate::uplink::relay::{ROOT, RelayProcess};
use crate::uplink::site::{Site, text};

/// Each operator's pause between calls.
const PAUSE: Duration = Duration::from_millis(200);

/// What the operators measured: the reads and the writes.
pub(super) struct Operators {
    pub(super) reads: LoadReport,
    pub(super) writes: LoadReport,
}

/// Runs the operators for `seconds` over the boxes `devices`.
pub(super) async fn work(
    site: &Site,
    relay: &RelayProcess,
    devices: &[&str],
    operators: usize,
    seconds: Duration,
) -> Result<Operators, BoxError> {
    let token = tenant_admin(site).await?;
    let t = format!("/api/v1/tenants/{}", site.tenant_id());
    let mut reads = operator_reads(&t, devices)?;
    reads.push(Call::get(format!("{t}/searches")));
    let writes = device_renames(&t, &devices[..devices.len().min(50)], "fleet");
    let base = (relay.base.as_str(), Some(token.as_str()));
    let s = seconds.as_secs_f64();
    let pid = relay.pid().ok();
    let (reads, writes) = tokio::join!(
        load_paced(base, &reads, (operators - 1, s, PAUSE), pid),
        load_paced(base, &writes, (1, s, PAUSE), pid),
    );
    Ok(Operators {
        reads: reads?,
        writes: writes?,
    })
}

/// A tenant admin of the site's tenant, made by the platform admin and signed in: the token.
async fn tenant_admin(site: &Site) -> Result<String, BoxError> {
    let email = "admin@fleet.bench";
    let user = json!({"email": email, "password": ROOT.1});
    let user = site.post_tenant("/users", user).await?;
    let grants = format!("/users/{}/grants", text(&user, "id")?);
    site.post_tenant(&grants, json!({"role": "tenant_admin"}))
        .await?;
    let login = json!({"email": email, "password": ROOT.1, "tenant_id": site.tenant_id()});
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", site.base))
        .json(&login)
        .send()
        .await?
        .error_for_status()?
        .json::<serde_json::Value>()
        .await?;
    text(&answer, "access_token")
}
