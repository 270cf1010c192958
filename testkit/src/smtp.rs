//! A real SMTP server on loopback: aiosmtpd (PyPI, installed into `.cache/venv` by
//! scripts/fetch-models) with its Maildir handler, so a test reads the mail exactly as it
//! was received. The Python is `$DIPPER_PYTHON`, else the repository's `.cache/venv`.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// A running aiosmtpd, stopped when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// One mail received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The whole message as received.
    pub raw: String,
    /// The `To` header.
    pub to: String,
    /// The `Subject` header, RFC 2047 words decoded.
    pub subject: String,
    /// The body, its base64 or quoted-printable transfer encoding undone.
    pub body: String,
}

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("DIPPER_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = crate::repo().join(".cache/venv/bin/python");
    assert!(
        venv.is_file(),
        "{} is missing: run scripts/fetch-models (it makes the venv with aiosmtpd), or set \
         DIPPER_PYTHON to a Python with aiosmtpd",
        venv.display()
    );
    venv
}

impl SmtpServer {
    /// Starts a server on a free port and waits until it accepts connections.
    pub fn start() -> SmtpServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = crate::free_port();
        let log = std::fs::File::create(dir.path().join("aiosmtpd.log")).expect("log");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting aiosmtpd");
        let mut server = SmtpServer { child, port, dir };
        server.wait_listening();
        server
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("aiosmtpd exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd not listening: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
    }

    /// The mail received so far, oldest first.
    pub fn received(&self) -> Vec<Mail> {
        let mut files = Vec::new();
        for folder in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.path().join("maildir").join(folder))
            else {
                continue;
            };
            for entry in entries.flatten() {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                files.push((modified, entry.path()));
            }
        }
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .map(|raw| parse(&raw))
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the headers and body of a single-part message.
fn parse(raw: &str) -> Mail {
    let normalized = raw.replace("\r\n", "\n");
    let (head, body) = normalized.split_once("\n\n").unwrap_or((&normalized, ""));
    // Unfold continued header lines.
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let encoding = header("content-transfer-encoding").to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(joined)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    };
    Mail {
        raw: raw.to_owned(),
        to: header("to"),
        subject: decode_words(&header("subject")),
        body,
    }
}

/// Undoes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`); the whitespace
/// between two encoded words goes.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut last_was_word = false;
    for token in value.split(' ') {
        let word = token
            .strip_prefix("=?")
            .and_then(|t| t.strip_suffix("?="))
            .and_then(|t| {
                let mut parts = t.splitn(3, '?');
                let (_charset, kind, text) = (parts.next()?, parts.next()?, parts.next()?);
                match kind.to_ascii_lowercase().as_str() {
                    "b" => base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                    "q" => Some(quoted_printable(&text.replace('_', " "))),
                    _ => None,
                }
            });
        match word {
            Some(decoded) => {
                if !last_was_word {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                last_was_word = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(token);
                last_was_word = false;
            }
        }
        pending_space = " ".to_owned();
    }
    out
}

fn quoted_printable(text: &str) -> String {
    let mut bytes = Vec::new();
    let raw = text.replace("=\n", "");
    let mut chars = raw.bytes().peekable();
    while let Some(b) = chars.next() {
        if b == b'=' {
            let hex: Vec<u8> = chars.by_ref().take(2).collect();
            if let Ok(value) = u8::from_str_radix(&String::from_utf8_lossy(&hex), 16) {
                bytes.push(value);
                continue;
            }
        }
        bytes.push(b);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
