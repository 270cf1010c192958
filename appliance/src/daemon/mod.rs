//! `dipper run`: the daemon. Opens the database, loads the face models, starts the
//! downloader, the engine and the local API, resumes unfinished tasks, then serves until a
//! signal.
//!
//! Stopping: the first SIGTERM or SIGINT stops the API from taking new connections, tells
//! every task runner to stop (their tasks stay resumable), and waits up to
//! `shutdown.drain_seconds` for them; a second signal exits at once. Under systemd
//! (`Type=notify`), READY=1 is sent once the API listens and STOPPING=1 at the first signal.
//! The API's address is also written to `<data_dir>/api.addr` (useful with port 0).
//!
//! The uplink starts after the engine; configuration set remotely (stored overrides) is
//! applied over `box.toml` before anything else starts. A `restart` RPC stops the daemon
//! the same way as SIGTERM, then it exits with `uplink::RESTART_EXIT_CODE` so its
//! supervisor starts it again.

mod arenas;
mod metrics;

use std::{net::SocketAddr, time::Instant};

use pipeline::{
    downloader::{
        Downloader, DownloaderConfig,
        cache::{CacheConfig, DiskCache},
    },
    faces::{FaceConfig, FaceEngine},
};
use tokio::net::TcpListener;

use crate::{
    BoxError,
    api::{self, AppState},
    config::BoxConfig,
    db::Database,
    engine::{DiskMonitor, Engine, EngineParts},
    uplink::{Uplink, UplinkParts},
};

/// How the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Stopped by a signal.
    Stopped,
    /// Stopped for its supervisor to start it again (the `restart` RPC).
    Restart,
}

pub(crate) fn run(config: BoxConfig) -> Result<Exit, BoxError> {
    arenas::cap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dipper")
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    runtime.block_on(serve(config))
}

async fn serve(config: BoxConfig) -> Result<Exit, BoxError> {
    let started = Instant::now();
    let data_dir = config.data_dir.clone();
    crate::update::init(&config.update);
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| format!("creating the data directory {}: {e}", data_dir.display()))?;
    let db = Database::open(&data_dir)?;
    let token = crate::access::load_or_create_token(&data_dir)?;
    let access = crate::access::Access::new(db.clone(), token, Default::default());
    let config = crate::uplink::with_stored_overrides(&db, config).await?;
    let metrics = metrics::install()
        .map_err(|e| tracing::warn!(error = %e, "metrics are off"))
        .ok();
    let disk = DiskMonitor::new(data_dir.clone(), config.disk.min_free_mib * 1024 * 1024);
    let disk_checks = disk.spawn_checks(std::time::Duration::from_millis(
        config.disk.check_interval_ms,
    ));
    let engine = start_engine(&config, db.clone(), disk).await?;
    let (uplink, restart) = Uplink::start(UplinkParts {
        db,
        engine: engine.clone(),
        config: config.clone(),
        metrics: metrics.clone(),
        started,
    })
    .await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", config.listen))?;
    let address: SocketAddr = listener.local_addr()?;
    write_address(&data_dir, address)?;
    let app = api::router(AppState {
        access,
        watch: crate::status::CameraWatch::start(engine.clone()),
        restart_needed: Default::default(),
        engine: engine.clone(),
        uplink: uplink.clone(),
        metrics,
        started,
    });
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = api_stopped.await;
            })
            .await
    });
    let resumed = engine.resume().await?;
    if config.index.background {
        engine.start_background(config.index.clone());
    }
    engine.start_retention(config.index.clone());
    tracing::info!(%address, resumed, "dipper is ready");
    notify_systemd(&[sd_notify::NotifyState::Ready]);

    let exit = tokio::select! {
        signal = wait_for_signal() => signal.map(|()| Exit::Stopped)?,
        Ok(()) = restart => Exit::Restart,
    };
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping: finishing what is in hand (a second signal exits at once)");
    tokio::spawn(async {
        if wait_for_signal().await.is_ok() {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
    });
    let _ = stop_api.send(());
    stop(&config, &engine, server).await;
    uplink.shutdown();
    disk_checks.abort();
    tracing::info!(restart = exit == Exit::Restart, "stopped");
    Ok(exit)
}

/// Loads the face models, starts the downloader and the engine.
async fn start_engine(
    config: &BoxConfig,
    db: Database,
    disk: DiskMonitor,
) -> Result<Engine, BoxError> {
    let data_dir = &config.data_dir;
    let faces = FaceEngine::new(FaceConfig {
        models: models::SearchPath::with_override(config.models_dir.clone()),
        ..FaceConfig::default()
    })?;
    let client = isapi::Client::new(isapi::ClientConfig {
        search_page_size: Some(config.search.page_size),
        ..isapi::ClientConfig::default()
    })?;
    let cache = if config.downloads.cache_mib > 0 {
        Some(
            DiskCache::open(CacheConfig {
                dir: data_dir.join("cache"),
                max_bytes: config.downloads.cache_mib * 1024 * 1024,
                ..CacheConfig::default()
            })
            .await?,
        )
    } else {
        None
    };
    let downloader = Downloader::with_cache(
        DownloaderConfig {
            memory_budget: config.downloads.memory_budget_mib * 1024 * 1024,
            ..DownloaderConfig::default()
        },
        cache,
    )?;
    Ok(Engine::new(EngineParts {
        db,
        client,
        downloader,
        faces,
        disk,
        config: config.search.clone(),
        per_camera: config.downloads.per_camera,
        data_dir: data_dir.clone(),
        motion: config.motion.enabled.then(|| config.motion.gates.clone()),
    })?)
}

/// Drains the engine, then waits for the API to stop, each up to the drain time.
async fn stop(
    config: &BoxConfig,
    engine: &Engine,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let drained = engine.shutdown(config.shutdown.drain()).await;
    if !drained {
        tracing::warn!(
            seconds = config.shutdown.drain_seconds,
            "work did not stop in time; unfinished recordings resume at the next start"
        );
    }
    match tokio::time::timeout(config.shutdown.drain(), server).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the API stopped with an error"),
        Err(_) => tracing::warn!("the API did not stop in time"),
        _ => {}
    }
}

/// Where `dipper` clients find the API when it listens on a port chosen at start.
fn write_address(data_dir: &std::path::Path, address: SocketAddr) -> Result<(), BoxError> {
    let path = data_dir.join("api.addr");
    let tmp = data_dir.join("api.addr.tmp");
    std::fs::write(&tmp, format!("{address}\n"))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("writing {}: {e}", path.display()).into())
}

fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(false, states)
    {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

async fn wait_for_signal() -> Result<(), BoxError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
