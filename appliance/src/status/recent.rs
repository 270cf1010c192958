//! The last warnings and errors the daemon logged, for the local page's status, and the last
//! log lines, for its diagnostics bundle: a tracing layer keeps the newest [`KEPT`] WARN
//! and ERROR events and the newest [`LINES`] lines of any level the log's filter lets
//! through (message and fields, one line each) in memory. Nothing is written anywhere; the
//! log itself (journald) is the record.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::OnceLock;

use parking_lot::Mutex;
use serde::Serialize;
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context};

/// Problems kept.
pub(crate) const KEPT: usize = 50;
/// Log lines kept.
pub(crate) const LINES: usize = 500;

/// One logged problem.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    pub(crate) at_ms: i64,
    /// `warn` or `error`.
    pub(crate) level: &'static str,
    pub(crate) message: String,
}

fn kept() -> &'static Mutex<VecDeque<Problem>> {
    static KEPT_EVENTS: OnceLock<Mutex<VecDeque<Problem>>> = OnceLock::new();
    KEPT_EVENTS.get_or_init(|| Mutex::new(VecDeque::with_capacity(KEPT)))
}

fn lines() -> &'static Mutex<VecDeque<String>> {
    static KEPT_LINES: OnceLock<Mutex<VecDeque<String>>> = OnceLock::new();
    KEPT_LINES.get_or_init(|| Mutex::new(VecDeque::with_capacity(LINES)))
}

/// The kept problems, newest first, at most `n`.
pub(crate) fn newest(n: usize) -> Vec<Problem> {
    kept().lock().iter().rev().take(n).cloned().collect()
}

/// The kept log lines, oldest first.
pub(crate) fn log_lines() -> Vec<String> {
    lines().lock().iter().cloned().collect()
}

/// The layer; add it to the daemon's subscriber.
#[derive(Debug, Default)]
pub(crate) struct RecentProblems;

impl<S: Subscriber> Layer<S> for RecentProblems {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let mut line = Line::default();
        event.record(&mut line);
        let mut message = line.message;
        if !line.fields.is_empty() {
            if !message.is_empty() {
                message.push(' ');
            }
            message.push_str(line.fields.trim_start());
        }
        let at_ms = jiff::Timestamp::now().as_millisecond();
        {
            let mut lines = lines().lock();
            if lines.len() == LINES {
                lines.pop_front();
            }
            let target = event.metadata().target();
            lines.push_back(format!("{at_ms} {level} {target}: {message}"));
        }
        if !matches!(level, "error" | "warn") {
            return;
        }
        let mut events = kept().lock();
        if events.len() == KEPT {
            events.pop_front();
        }
        events.push_back(Problem {
            at_ms,
            level,
            message,
        });
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl tracing::field::Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}
