//! API calls per second: `connections` workers in this process, each calling the relay over
//! its own kept-alive HTTP/1 connection one call after another for `seconds` (a closed loop,
//! as a balancer's backends see a steady crowd of operators), timing every call. A load is a
//! list of calls the workers take in turn. [`load_paced`] has each worker pause between calls
//! (operators at work rather than a crowd, for the fleet run).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::BoxError;
use crate::daemon::percentile;

/// One call of a load.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: reqwest::Method,
    /// From the relay's base, e.g. `/api/v1/me`.
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
}

impl Call {
    pub(crate) fn get(path: String) -> Call {
        Call {
            method: reqwest::Method::GET,
            path,
            body: None,
        }
    }

    pub(crate) fn patch(path: String, body: Value) -> Call {
        Call {
            method: reqwest::Method::PATCH,
            path,
            body: Some(body),
        }
    }
}

/// An operator's reads of tenant `t` (its path, `/api/v1/tenants/<id>`), over `devices`:
/// the device list, the first device, the tenant, its areas, the caller, the audit log.
pub(crate) fn operator_reads(t: &str, devices: &[&str]) -> Result<Vec<Call>, BoxError> {
    let first = devices.first().ok_or("no box to read")?;
    Ok(vec![
        Call::get(format!("{t}/devices?limit=50")),
        Call::get(format!("{t}/devices/{first}")),
        Call::get(t.to_owned()),
        Call::get(format!("{t}/areas")),
        Call::get("/api/v1/me".to_owned()),
        Call::get(format!("{t}/audit?limit=20")),
    ])
}

/// An operator's writes: each of `devices` renamed (`<label> box <n> renamed`), a change and
/// its audit record each.
pub(crate) fn device_renames(t: &str, devices: &[&str], label: &str) -> Vec<Call> {
    devices
        .iter()
        .enumerate()
        .map(|(n, device)| {
            let body = serde_json::json!({ "name": format!("{label} box {n} renamed") });
            Call::patch(format!("{t}/devices/{device}"), body)
        })
        .collect()
}

/// What one load measured.
#[derive(Debug, serde::Serialize)]
pub(crate) struct LoadReport {
    pub(crate) calls: usize,
    pub(super) calls_per_second: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    /// Answers that were not 2xx (or no answer).
    pub(crate) errors: usize,
    /// Cores the relay, and this process (the load generator), used meanwhile.
    pub(super) relay_cores: f64,
    pub(super) bench_cores: f64,
    /// Every call's time, ms, sorted.
    #[serde(skip)]
    pub(crate) samples_ms: Vec<f64>,
}

/// Runs `calls` (each worker starting at its own place in the list) against `base` with
/// `token` from `connections` workers for `seconds`; `relay_pid` for its CPU time.
pub(super) async fn load(
    (base, token): (&str, Option<&str>),
    calls: &[Call],
    (connections, seconds): (usize, f64),
    relay_pid: Option<u32>,
) -> Result<LoadReport, BoxError> {
    let shape = (connections, seconds, Duration::ZERO);
    load_paced((base, token), calls, shape, relay_pid).await
}

/// [`load`] with each worker pausing `pause` after each call.
pub(crate) async fn load_paced(
    (base, token): (&str, Option<&str>),
    calls: &[Call],
    (connections, seconds, pause): (usize, f64, Duration),
    relay_pid: Option<u32>,
) -> Result<LoadReport, BoxError> {
    if calls.is_empty() {
        return Err("a load with no call".into());
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let cpu = |pid| crate::proc::cpu_seconds(pid).unwrap_or(f64::NAN);
    let (relay_before, bench_before) = (cpu(relay_pid), cpu(None));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut workers = Vec::with_capacity(connections);
    for worker in 0..connections {
        let (http, base, token) = (http.clone(), base.to_owned(), token.map(str::to_owned));
        let calls = calls.to_vec();
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0;
            let mut next = worker % calls.len();
            while Instant::now() < until {
                let call = &calls[next];
                next = (next + 1) % calls.len();
                let mut request = http.request(call.method.clone(), format!("{base}{}", call.path));
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = &call.body {
                    request = request.json(body);
                }
                let sent = Instant::now();
                let ok = match request.send().await {
                    Ok(answer) => {
                        let ok = answer.status().is_success();
                        // Read whole, as a client does, before the next call.
                        ok && answer.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                samples.push(sent.elapsed().as_secs_f64() * 1000.0);
                if !ok {
                    errors += 1;
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            (samples, errors)
        }));
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (mut some, failed) = worker.await?;
        samples.append(&mut some);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    samples.sort_by(f64::total_cmp);
    Ok(LoadReport {
        calls: samples.len(),
        calls_per_second: samples.len() as f64 / elapsed,
        p50_ms: percentile(&samples, 50.0),
        p99_ms: percentile(&samples, 99.0),
        errors,
        relay_cores: (cpu(relay_pid) - relay_before) / elapsed,
        bench_cores: (cpu(None) - bench_before) / elapsed,
        samples_ms: samples,
    })
}
