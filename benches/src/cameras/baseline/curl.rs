//! The curl baseline: the same recordings fetched by `curl --parallel` processes, each
//! transfer a Digest-authenticated POST of the `downloadRequest` written to `/dev/null`.
//!
//! curl caps `--parallel-max` (300 in 7.88), so `concurrency` transfers at once take
//! `ceil(concurrency / 250)` processes, each given its share of the recordings in a config
//! on stdin (`-K -`): one `url`/`data-raw`/`output`/`write-out` block per transfer, blocks
//! separated by `next` (`no-progress-meter` in each: a global `-s` does not silence the
//! parallel progress meter once a transfer has an `output`). Each transfer's write-out names its recording, so the results can be
//! checked against the simulator's sizes whatever order they finish in. The processes'
//! peak memory is their `VmHWM`, polled every 100 ms and summed over the processes.

use std::{
    collections::HashMap,
    fmt::Write as _,
    process::{Output, Stdio},
    time::Instant,
};

use tokio::{io::AsyncWriteExt, process::Command, sync::watch, task::JoinHandle};

use super::{
    super::{checksums::Checksum, work::WorkList},
    Outcome, POLL, log_errors,
};
use crate::{BoxError, proc};

/// Transfers one curl process runs at once, at most.
const PER_PROCESS: usize = 250;

/// Fetches `items` of `work` with `concurrency` transfers at once, as `user:password`;
/// `expected` gives each item's checksum (curl is only held to the size).
pub(crate) async fn run(
    work: &WorkList,
    items: &[usize],
    concurrency: usize,
    credentials: &str,
    expected: impl Fn(usize) -> Option<Checksum>,
) -> Result<Outcome, BoxError> {
    let processes = concurrency
        .div_ceil(PER_PROCESS)
        .clamp(1, items.len().max(1));
    let parallel = concurrency.div_ceil(processes);
    let mut shares = vec![Vec::new(); processes];
    for (index, &item) in items.iter().enumerate() {
        shares[index % processes].push((index, item));
    }
    let (done, done_rx) = watch::channel(false);
    let started = Instant::now();
    let mut children = Vec::new();
    let mut pids = Vec::new();
    for share in &shares {
        let (pid, child) = start_process(parallel, config(work, share, credentials))?;
        pids.extend(pid);
        children.push(child);
    }
    let poller = tokio::spawn(proc::poll_peaks(pids, POLL, done_rx));
    let mut outputs = Vec::new();
    for child in children {
        outputs.push(child.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    done.send_replace(true);
    let peaks = poller.await?;

    let (sizes, mut errors) = read_outputs(&outputs);
    let (bytes, failed) = check_sizes(items, &sizes, expected, &mut errors);
    log_errors("curl", &errors);
    Ok(Outcome {
        name: "curl",
        bytes,
        seconds,
        peak_rss_mb: Some(peaks.iter().sum()),
        rss_before_mb: None,
        errors: failed,
        processes: Some(processes),
        sim_cpu_seconds: None,
    })
}

/// Starts one curl process running `parallel` transfers at once, its `config` written to
/// its stdin: its pid, and the task that waits for its output.
fn start_process(
    parallel: usize,
    config: String,
) -> Result<(Option<u32>, JoinHandle<std::io::Result<Output>>), BoxError> {
    let mut child = Command::new("curl")
        .args(["--parallel", "--parallel-immediate", "--parallel-max"])
        .arg(parallel.to_string())
        .args(["-K", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run curl (scripts/lib/setup.sh installs it): {e}"))?;
    let pid = child.id();
    let mut stdin = child.stdin.take();
    let output = tokio::spawn(async move {
        if let Some(stdin) = &mut stdin {
            // A write error means curl exited early; its status tells why.
            let _ = stdin.write_all(config.as_bytes()).await;
        }
        drop(stdin);
        child.wait_with_output().await
    });
    Ok((pid, output))
}

/// The size of each transfer that answered 200, by its index in `items`, and every error
/// the processes printed or reported.
fn read_outputs(outputs: &[Output]) -> (HashMap<usize, u64>, Vec<String>) {
    let mut sizes: HashMap<usize, u64> = HashMap::new();
    let mut errors = Vec::new();
    for output in outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        errors.extend(stderr.lines().map(|l| format!("curl: {l}")));
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            match parse_line(line) {
                Some((index, 200, size)) => {
                    sizes.insert(index, size);
                }
                Some((index, code, _)) => {
                    errors.push(format!("curl: transfer {index}: HTTP {code}"));
                }
                None => errors.push(format!("curl: unexpected output {line:?}")),
            }
        }
    }
    (sizes, errors)
}

/// The bytes received, and the transfers that failed or whose size is not the `expected`
/// one (each of the latter added to `errors`).
fn check_sizes(
    items: &[usize],
    sizes: &HashMap<usize, u64>,
    expected: impl Fn(usize) -> Option<Checksum>,
    errors: &mut Vec<String>,
) -> (u64, u64) {
    let mut bytes = 0;
    let mut failed = 0;
    for (index, &item) in items.iter().enumerate() {
        match (sizes.get(&index), expected(item).map(|c| c.bytes)) {
            (Some(&size), Some(want)) if size == want => bytes += size,
            (Some(&size), want) => {
                bytes += size;
                failed += 1;
                errors.push(format!(
                    "curl: transfer {index}: {size} bytes, expected {want:?}"
                ));
            }
            (None, _) => failed += 1,
        }
    }
    (bytes, failed)
}

/// One config block per `(index, item)` transfer; its write-out line is `INDEX HTTP_CODE
/// SIZE`, INDEX its place in the `items` of [`run`].
fn config(work: &WorkList, share: &[(usize, usize)], credentials: &str) -> String {
    let mut config = String::new();
    let user = quote(credentials);
    for (n, &(index, item)) in share.iter().enumerate() {
        if n > 0 {
            config.push_str("next\n");
        }
        let camera = work.camera_of(item);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><downloadRequest version=\"1.0\" \
             xmlns=\"http://www.isapi.org/ver20/XMLSchema\"><playbackURI>{}</playbackURI>\
             </downloadRequest>",
            xml_escape(&work.recording(item).playback_uri)
        );
        let _ = writeln!(
            config,
            "url = {}\ndigest\nuser = {user}\nheader = \"Content-Type: application/xml\"\n\
             data-raw = {}\noutput = \"/dev/null\"\nno-progress-meter\nshow-error\n\
             write-out = \"{index} %{{http_code}} %{{size_download}}\\n\"",
            quote(&format!("{}/ISAPI/ContentMgmt/download", camera.url)),
            quote(&body),
        );
    }
    config
}

/// A curl config string: double quotes, with `\` and `"` escaped.
fn quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('"');
    for c in s.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// `INDEX CODE SIZE`.
fn parse_line(line: &str) -> Option<(usize, u16, u64)> {
    let mut words = line.split_whitespace();
    let index = words.next()?.parse().ok()?;
    let code = words.next()?.parse().ok()?;
    let size = words.next()?.parse().ok()?;
    Some((index, code, size))
}

#[cfg(test)]
mod tests {
    use super::{parse_line, quote, xml_escape};

    #[test]
    fn config_strings_escape_what_curl_unescapes() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("x\ny"), r#""x\ny""#);
        assert_eq!(
            xml_escape("rtsp://h/t/101?starttime=1&endtime=2"),
            "rtsp://h/t/101?starttime=1&amp;endtime=2"
        );
    }

    #[test]
    fn write_out_lines_parse() {
        assert_eq!(parse_line("17 200 4605000"), Some((17, 200, 4_605_000)));
        assert_eq!(parse_line("3 000 0"), Some((3, 0, 0)));
        assert_eq!(parse_line("curl: (7) Failed"), None);
    }
}
