//! Prometheus metrics, served at `/metrics`: [`TABLE`] is every metric the relay exports
//! (name, kind, labels, help), recorded here (request latency by route template, method and
//! status: labels of low cardinality, the route is the matched template, never the URL) or
//! in the modules that own them (the uplink, the object store, notices, billing, the
//! database). The exporter is set up from it (the histogram's buckets, the `# HELP` lines),
//! and a test holds the code's `counter!`/`gauge!`/`histogram!` calls and the relay's
//! dashboard (`packaging/grafana/dipper-relay.json`) to it.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use web_common::metrics::Metric;

const REQUEST_SECONDS: &str = "relay_http_request_duration_seconds";

pub const TABLE: &[Metric] = &[
    Metric::histogram(
        REQUEST_SECONDS,
        &["method", "route", "status"],
        &[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ],
        "API requests by method, route template and status, and how long they took.",
    ),
    // The uplink (relay/src/uplink/metrics.rs).
    Metric::counter(
        "relay_uplink_messages_total",
        &["topic", "outcome"],
        "Messages from boxes by topic and what became of them (applied, duplicate, dropped...).",
    ),
    Metric::counter(
        "relay_uplink_duplicates_total",
        &["topic"],
        "Messages from boxes applied before (a box publishing again after a lost ack).",
    ),
    Metric::gauge(
        "relay_uplink_boxes_online",
        &[],
        "Boxes online across the platform, as the database says.",
    ),
    Metric::counter(
        "relay_uplink_acknowledged_total",
        &[],
        "Message sequences acknowledged to boxes.",
    ),
    Metric::counter(
        "relay_uplink_upload_grants_total",
        &[],
        "Snapshot upload URLs granted to boxes.",
    ),
    // The object store (relay/src/objects/metrics.rs).
    Metric::counter(
        "dipper_relay_objects_total",
        &["op", "outcome"],
        "Requests to the disk store's signed-URL routes, by operation and outcome.",
    ),
    Metric::counter(
        "dipper_relay_object_store_operations_total",
        &["op", "backend", "outcome"],
        "The relay's own calls on its object store, by operation, backend and outcome.",
    ),
    // Notices, billing, the database.
    Metric::counter(
        "dipper_relay_notifications_total",
        &["outcome"],
        "Notices the sender tried: sent, retried or failed.",
    ),
    Metric::counter(
        "dipper_relay_billing_checks_total",
        &["outcome"],
        "Monthly billing checks: ran (this instance held the lease), standby or failed.",
    ),
    Metric::counter(
        "dipper_relay_invoices_total",
        &["outcome"],
        "Invoices issued, or tenant months that failed to invoice, by the monthly run.",
    ),
    Metric::counter(
        "dipper_relay_db_errors_total",
        &["kind"],
        "Database errors (retried or not): constraint, busy, pool_timed_out, other.",
    ),
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use. `None` if another recorder
/// was installed first (then `/metrics` is empty).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| web_common::metrics::install(TABLE).ok())
        .clone()
}

/// Middleware recording each request's latency; mounted with `route_layer`, so it runs
/// after routing and sees the matched route.
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(REQUEST_SECONDS, "method" => method, "route" => route, "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The text exposition of every metric.
pub fn render() -> String {
    handle().map(|h| h.render()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use testkit::metrics::{Exporter, check_dashboards, check_table};

    use super::TABLE;

    #[test]
    fn the_table_is_what_the_code_records() {
        check_table(Exporter::Relay, TABLE);
    }

    #[test]
    fn the_relay_dashboard_names_only_metrics_of_the_table() {
        check_dashboards(Exporter::Relay, TABLE);
    }
}
