//! `dipper-bench billing`: the monthly run (`dipper-relay billing run`, its own process) over
//! many tenants with a month of metered usage, on SQLite (the relay's embedded default).
//!
//! The database is made by the relay's own migrations, then filled directly (`fill.rs`, one
//! SQLite transaction of prepared inserts) with what a month of metering leaves at its end:
//! per tenant a pricing rule, its boxes seen every day (`device_days`), hourly counters of
//! uplink traffic, API calls (reads and writes) and searches for every hour of the month,
//! rolled up into `meter_days` as the relay's rollup would have, and the month's last two
//! hours still pending (so the run reads both). The run is timed from its start to its exit;
//! its peak resident memory is read from `/proc` while it runs. The same run over a tenth of
//! the tenants gives the memory ratio: flat memory is a ratio near 1.
//!
//! Every tenant's invoice is checked afterwards: one per tenant, its total the sum of its
//! lines, and equal to the total computed here from the figures written.
//!
//! Then the dunning check (`dipper-relay billing dunning --as-of`, its own process) looks 60
//! days ahead, when every invoice is long past its due date and its tenant's allowances: each
//! tenant is moved to `suspended` in its own transaction, with its audit record, event and
//! notices (the tenants have no channels and no registered boxes, so no notice rows or RPCs
//! are written). Timed and its peak memory read the same way; every tenant must have moved.

mod fill;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::BoxError;
use crate::daemon::sibling_binary;
use crate::proc::peak_rss_mb;

#[derive(Debug, Args)]
pub(crate) struct BillingArgs {
    /// Tenants billed.
    #[arg(long, default_value_t = 10_000)]
    tenants: u32,
    /// Boxes per tenant, each seen every day of the month.
    #[arg(long, default_value_t = 20)]
    boxes: u32,
    /// The month billed (a month of Asia/Shanghai).
    #[arg(long, default_value = "2026-11")]
    month: String,
    /// Skip the second run over a tenth of the tenants (the memory ratio).
    #[arg(long)]
    no_small_run: bool,
    /// Print one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

/// One run of `dipper-relay billing run`.
#[derive(Debug, Serialize)]
struct RunFigures {
    tenants: u32,
    boxes_per_tenant: u32,
    hourly_rows: u64,
    fill_seconds: f64,
    run_seconds: f64,
    peak_rss_mb: f64,
    invoices: u64,
    invoices_checked: u64,
    dunning_seconds: f64,
    dunning_peak_rss_mb: f64,
    tenants_suspended: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    month: String,
    database: &'static str,
    full: RunFigures,
    #[serde(skip_serializing_if = "Option::is_none")]
    small: Option<RunFigures>,
    /// Peak memory of the full run over that of the run over a tenth of the tenants.
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rss_ratio: Option<f64>,
}

pub(crate) async fn run(args: BillingArgs) -> Result<(), BoxError> {
    let month: billing::BillingMonth = args.month.parse()?;
    let full = measure(&args, month, args.tenants).await?;
    let small = if args.no_small_run {
        None
    } else {
        Some(measure(&args, month, (args.tenants / 10).max(1)).await?)
    };
    let peak_rss_ratio = small.as_ref().map(|s| full.peak_rss_mb / s.peak_rss_mb);
    let report = Report {
        month: month.to_string(),
        database: "sqlite",
        full,
        small,
        peak_rss_ratio,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let f = &report.full;
        println!(
            "billing run over {} tenants × {} boxes ({} hourly rows): {:.1} s, peak {:.0} MB, \
             {} invoices ({} checked); dunning check suspending {} tenants: {:.1} s, peak \
             {:.0} MB{}",
            f.tenants,
            f.boxes_per_tenant,
            f.hourly_rows,
            f.run_seconds,
            f.peak_rss_mb,
            f.invoices,
            f.invoices_checked,
            f.tenants_suspended,
            f.dunning_seconds,
            f.dunning_peak_rss_mb,
            report
                .peak_rss_ratio
                .map(|r| format!("; memory vs a tenth of the tenants: {r:.2}×"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

async fn measure(
    args: &BillingArgs,
    month: billing::BillingMonth,
    tenants: u32,
) -> Result<RunFigures, BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("relay.sqlite3");
    let url = format!("sqlite://{}", path.display());
    let config = relay::config::DatabaseConfig {
        url: url.clone(),
        max_connections: 2,
    };
    relay::db::Db::connect_and_migrate(&config)
        .await?
        .close()
        .await;
    let started = Instant::now();
    let filled = tokio::task::spawn_blocking({
        let path = path.clone();
        let boxes = args.boxes;
        move || fill::fill(&path, month, tenants, boxes)
    })
    .await??;
    let fill_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        tenants,
        seconds = fill_seconds,
        rows = filled.hourly_rows,
        "filled"
    );

    let hourly_rows = filled.hourly_rows;
    let month_text = month.to_string();
    let args_run = ["billing", "run", "--month", &month_text];
    let (run_seconds, peak_rss_mb, _) = run_relay(&url, dir.path(), &args_run).await?;
    tracing::info!(tenants, seconds = run_seconds, peak_rss_mb, "billing run");
    let (invoices, invoices_checked) =
        tokio::task::spawn_blocking(move || fill::check(&path, &filled)).await??;
    if invoices != u64::from(tenants) || invoices_checked != invoices {
        return Err(format!(
            "{invoices} invoices for {tenants} tenants, {invoices_checked} as expected"
        )
        .into());
    }
    let ahead = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(60 * 24)).to_string();
    let args_dunning = ["billing", "dunning", "--as-of", &ahead];
    let (dunning_seconds, dunning_peak_rss_mb, summary) =
        run_relay(&url, dir.path(), &args_dunning).await?;
    let tenants_suspended = summary["summary"]["moved"].as_u64().unwrap_or(0);
    tracing::info!(
        tenants,
        seconds = dunning_seconds,
        tenants_suspended,
        "dunning check"
    );
    if tenants_suspended != u64::from(tenants) {
        return Err(
            format!("the dunning check moved {tenants_suspended} of {tenants} tenants").into(),
        );
    }
    Ok(RunFigures {
        tenants,
        boxes_per_tenant: args.boxes,
        hourly_rows,
        fill_seconds,
        run_seconds,
        peak_rss_mb,
        invoices,
        invoices_checked,
        dunning_seconds,
        dunning_peak_rss_mb,
        tenants_suspended,
    })
}

/// Runs `dipper-relay` with `args` over `url`: its wall time, peak memory and last line of
/// output (JSON). A line with `"outcome": "failed"` or that is not JSON fails it.
async fn run_relay(
    url: &str,
    dir: &Path,
    args: &[&str],
) -> Result<(f64, f64, serde_json::Value), BoxError> {
    let bin = sibling_binary("dipper-relay")?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .env("DIPPER_RELAY__DATABASE__URL", url)
        .env("DIPPER_RELAY__LOG_FORMAT", "text")
        .env_remove("DIPPER_RELAY_CONFIG")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    // One line per tenant: read as it comes, so the pipe never fills; the first failure and
    // the last line kept.
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let reading = tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt as _;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let (mut failure, mut last) = (None, serde_json::Value::Null);
        while let Ok(Some(line)) = lines.next_line().await {
            let parsed = serde_json::from_str::<serde_json::Value>(&line);
            let failed = parsed.as_ref().map_or(true, |v| v["outcome"] == "failed");
            if failure.is_none() && failed {
                failure = Some(line);
            }
            last = parsed.unwrap_or_default();
        }
        (failure, last)
    });
    let pid = child.id();
    let mut peak = 0.0_f64;
    let status = loop {
        if let Some(rss) = peak_rss_mb(pid) {
            peak = peak.max(rss);
        }
        tokio::select! {
            status = child.wait() => break status?,
            () = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let (failure, last) = reading.await?;
    if !status.success() || failure.is_some() {
        let first = failure.unwrap_or_default();
        let command = args.join(" ");
        return Err(format!("dipper-relay {command} failed ({status}); first: {first}").into());
    }
    Ok((seconds, peak, last))
}
