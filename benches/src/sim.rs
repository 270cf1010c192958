//! The simulated cameras in a process of their own, so that what the benchmark reports of
//! its own process (peak memory, CPU) is the downloader's alone.
//!
//! [`SimProcess::start`] re-executes this binary as `dipper-bench sim-child`, which starts
//! an [`isapi::sim::Simulator`], prints `device INDEX URL` for each camera and then `ready`,
//! and runs until its stdin closes or it gets SIGTERM. Dropping the [`SimProcess`] closes
//! that stdin and, if the child has not exited shortly after, kills it: whichever way the
//! benchmark ends, no simulator is left behind.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use clap::Args;
use isapi::sim::{DeviceConfig, SimConfig, Simulator};

use crate::{BoxError, proc};

/// How long the simulator may take to start its cameras and say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a dropped [`SimProcess`] waits for the child to exit before killing it.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// The password, passed in the environment rather than on the command line.
const PASSWORD_ENV: &str = "DIPPER_BENCH_SIM_PASSWORD";

/// The simulator as `cameras` wants it (the arguments of `sim-child`).
#[derive(Debug, Clone, Args)]
pub(crate) struct SimChildArgs {
    /// Cameras, each on its own port of 127.0.0.1.
    #[arg(long)]
    pub(crate) cameras: u32,
    /// Rate of each download stream, in kilobits per second; 0 = unlimited.
    #[arg(long)]
    pub(crate) rate_kbps: u64,
    /// Downloads at once per camera (more get 503 deviceBusy); 0 = unlimited.
    #[arg(long)]
    pub(crate) device_limit: u32,
    /// Length of each recording (a day of them per camera).
    #[arg(long)]
    pub(crate) recording_minutes: u32,
    /// Digest user.
    #[arg(long)]
    pub(crate) user: String,
    /// Digest password.
    #[arg(long, env = PASSWORD_ENV, hide_env_values = true)]
    pub(crate) password: String,
    /// Folder of the clips of scripts/make-clips.
    #[arg(long)]
    pub(crate) clips: PathBuf,
}

impl SimChildArgs {
    fn config(&self) -> SimConfig {
        let devices = (0..self.cameras)
            .map(|i| {
                let mut camera = DeviceConfig::camera(&self.user, &self.password);
                camera.name = format!("Camera {:04}", i + 1);
                camera.serial = format!("DS-2CD2345-SIM{i:04}");
                camera.days = 1;
                camera.recording_minutes = self.recording_minutes;
                camera.limits.bytes_per_second =
                    (self.rate_kbps > 0).then(|| self.rate_kbps * 1000 / 8);
                camera.limits.max_concurrent_downloads =
                    (self.device_limit > 0).then_some(self.device_limit);
                camera
            })
            .collect();
        let mut config = SimConfig::new(devices);
        config.clips_dir = self.clips.clone();
        config
    }
}

/// `sim-child`: serves the cameras until stdin closes or SIGTERM (or Ctrl-C).
pub(crate) async fn run_child(args: SimChildArgs) -> Result<(), BoxError> {
    use std::io::Write;

    let sim = Simulator::start(args.config())
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        for device in sim.devices() {
            writeln!(out, "device {} {}", device.index, device.base_url())?;
        }
        writeln!(out, "ready")?;
        out.flush()?;
    }
    // A plain thread, not tokio's stdin: a read blocked in the runtime's blocking pool would
    // hold up the runtime's shutdown.
    let (stdin_closed, closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = stdin_closed.send(());
    });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = closed => tracing::debug!("stdin closed; stopping"),
        _ = terminate.recv() => tracing::debug!("SIGTERM; stopping"),
        _ = tokio::signal::ctrl_c() => tracing::debug!("Ctrl-C; stopping"),
    }
    // Open downloads end with the process; nobody is left to read them.
    drop(sim);
    Ok(())
}

/// The running simulator child. Dropping it stops the child.
#[derive(Debug)]
pub(crate) struct SimProcess {
    child: Child,
    /// Closed to tell the child to exit.
    stdin: Option<ChildStdin>,
    /// Base URL of each camera, by index.
    urls: Vec<String>,
}

impl SimProcess {
    /// Starts the child and waits until it has printed every camera's address.
    pub(crate) async fn start(args: &SimChildArgs) -> Result<SimProcess, BoxError> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to start the simulator: {e}"))?;
        let mut child = Command::new(&exe)
            .arg("sim-child")
            .args(["--cameras", &args.cameras.to_string()])
            .args(["--rate-kbps", &args.rate_kbps.to_string()])
            .args(["--device-limit", &args.device_limit.to_string()])
            .args(["--recording-minutes", &args.recording_minutes.to_string()])
            .args(["--user", &args.user])
            .arg("--clips")
            .arg(&args.clips)
            .env(PASSWORD_ENV, &args.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {} sim-child: {e}", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // From here on, an early return drops `sim` and so stops the child.
        let mut sim = SimProcess {
            child,
            stdin,
            urls: Vec::new(),
        };
        let Some(stdout) = stdout else {
            return Err("the simulator's stdout is not piped".into());
        };
        let cameras = args.cameras as usize;
        let reading = tokio::task::spawn_blocking(move || read_ready(stdout, cameras));
        sim.urls = match tokio::time::timeout(START_TIMEOUT, reading).await {
            Ok(Ok(read)) => read?,
            Ok(Err(e)) => return Err(format!("reading the simulator's stdout: {e}").into()),
            Err(_) => {
                return Err(format!(
                    "the simulator did not start {cameras} cameras within {START_TIMEOUT:?}"
                )
                .into());
            }
        };
        tracing::info!(pid = sim.pid(), cameras, "simulator ready");
        Ok(sim)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Base URL of each camera, by index.
    pub(crate) fn urls(&self) -> &[String] {
        &self.urls
    }

    /// CPU seconds the simulator has used so far.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        proc::cpu_seconds(Some(self.pid()))
    }
}

/// Reads `device INDEX URL` lines up to `ready`.
fn read_ready(stdout: std::process::ChildStdout, cameras: usize) -> Result<Vec<String>, String> {
    let mut urls = vec![String::new(); cameras];
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("reading the simulator's stdout: {e}"))?;
        if line == "ready" {
            if let Some(missing) = urls.iter().position(String::is_empty) {
                return Err(format!("the simulator is ready without camera {missing}"));
            }
            return Ok(urls);
        }
        let mut words = line.split_whitespace();
        let parsed = match (words.next(), words.next(), words.next()) {
            (Some("device"), Some(index), Some(url)) => index
                .parse::<usize>()
                .ok()
                .filter(|&i| i < cameras)
                .map(|i| (i, url)),
            _ => None,
        };
        let Some((index, url)) = parsed else {
            return Err(format!("unexpected line from the simulator: {line:?}"));
        };
        url.clone_into(&mut urls[index]);
    }
    Err("the simulator exited before it was ready (its error is above)".to_owned())
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        // Closing stdin asks the child to exit.
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        tracing::warn!(pid = self.pid(), "the simulator did not exit; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
