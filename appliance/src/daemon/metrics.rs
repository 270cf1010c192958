//! Every metric the box's `/metrics` exports, recorded here or in the libraries it links
//! (`pipeline`'s downloader, `isapi`): name, kind, labels and help. [`install`] sets the
//! Prometheus exporter up from it (the `# HELP` lines). A test holds the code's
//! `counter!`/`gauge!`/`histogram!` calls and the fleet dashboard
//! (`packaging/grafana/dipper-fleet.json`) to this table: a metric recorded outside it, one
//! listed that nothing records, or a panel naming what is not here fails.

use metrics_exporter_prometheus::{BuildError, PrometheusHandle};
use pipeline::downloader::metrics as downloader;
use web_common::metrics::Metric;

pub(crate) const TABLE: &[Metric] = &[
    // The engine: indexing, searching, retention, the disk.
    Metric::counter(
        "dipper_recordings_processed_total",
        &[],
        "Recordings a search task covered, indexed now or read from the index.",
    ),
    Metric::counter(
        "dipper_footage_indexed_seconds_total",
        &[],
        "Seconds of footage indexed (its rate is camera-seconds indexed per second).",
    ),
    Metric::counter(
        "dipper_keyframes_total",
        &[],
        "Keyframes of the recordings indexed, decoded or skipped by the motion gates.",
    ),
    Metric::counter(
        "dipper_keyframes_decoded_total",
        &[],
        "Keyframes decoded for face detection.",
    ),
    Metric::counter(
        "dipper_keyframes_gated_total",
        &["stage", "reason"],
        "Keyframes by motion-gate stage (skip, decode, detect) and the reason for it.",
    ),
    Metric::counter(
        "dipper_faces_indexed_total",
        &[],
        "Faces that passed the quality gate, embedded and added to the index.",
    ),
    Metric::gauge(
        "dipper_index_entries",
        &[],
        "Entries of the embedding index (a retired recording's stay until the index is compacted).",
    ),
    Metric::gauge(
        "dipper_indexing_lag_seconds",
        &["camera", "track"],
        "How far background indexing of a camera's track is behind now.",
    ),
    Metric::gauge(
        "dipper_indexing_recordings_waiting",
        &["camera", "track"],
        "Recordings of a camera's track found and not yet indexed in the background.",
    ),
    Metric::counter(
        "dipper_tasks_created_total",
        &[],
        "Search tasks created (local page, CLI or the relay).",
    ),
    Metric::counter(
        "dipper_recordings_retired_total",
        &["reason"],
        "Recordings whose faces left the index: past index.keep_days, or over the quota.",
    ),
    Metric::gauge(
        "dipper_disk_full",
        &[],
        "1 while the data directory is below disk.min_free_mib and no download starts.",
    ),
    Metric::gauge(
        "dipper_disk_free_bytes",
        &[],
        "Free space of the data directory's file system, for an unprivileged user.",
    ),
    Metric::gauge(
        "dipper_disk_size_bytes",
        &[],
        "Size of the data directory's file system.",
    ),
    // The downloader (pipeline/src/downloader/metrics.rs) and the ISAPI client.
    Metric::counter(
        downloader::BYTES,
        &["source"],
        "Bytes of recordings downloaded, from a device or from the disk cache.",
    ),
    Metric::counter(
        downloader::ERRORS,
        &["kind"],
        "Failed download attempts (retried or not), by error kind.",
    ),
    Metric::counter(
        downloader::DOWNLOADS,
        &["outcome"],
        "Downloads ended: done, failed, cancelled, consumer_gone.",
    ),
    Metric::gauge(
        downloader::ACTIVE,
        &["level"],
        "Downloads running, by priority level (0 = an operator waiting, 5 = backfill).",
    ),
    Metric::gauge(
        downloader::QUEUE_DEPTH,
        &["level"],
        "Downloads waiting for a slot, by priority level.",
    ),
    Metric::gauge(
        downloader::POOL_IN_USE,
        &[],
        "Chunks of the download memory pool holding bytes.",
    ),
    Metric::gauge(
        downloader::POOL_CAPACITY,
        &[],
        "Chunks of the download memory pool.",
    ),
    Metric::counter(
        "isapi_search_items_skipped_total",
        &["reason"],
        "Items of a device's recording search the client could not use, by reason.",
    ),
    // The uplink: outbox, RPCs, snapshot uploads.
    Metric::gauge(
        "dipper_uplink_connected",
        &[],
        "1 while the uplink is connected to the broker.",
    ),
    Metric::gauge(
        "dipper_outbox_depth",
        &[],
        "Messages in the outbox, not yet acknowledged by the relay.",
    ),
    Metric::gauge(
        "dipper_outbox_bytes",
        &[],
        "Bytes of the outbox's messages.",
    ),
    Metric::gauge(
        "dipper_outbox_oldest_seconds",
        &[],
        "Age of the oldest message in the outbox (0 when empty).",
    ),
    Metric::counter(
        "dipper_outbox_written_total",
        &["kind"],
        "Messages written to the outbox, by kind.",
    ),
    Metric::counter(
        "dipper_outbox_dropped_total",
        &["kind"],
        "Telemetry samples dropped because the outbox was over its quota.",
    ),
    Metric::counter(
        "dipper_outbox_thinned_total",
        &[],
        "Telemetry samples deleted to make room in the outbox.",
    ),
    Metric::counter(
        "dipper_outbox_published_total",
        &[],
        "Outbox messages published to the broker.",
    ),
    Metric::counter(
        "dipper_outbox_republished_total",
        &["reason"],
        "Times every unacknowledged message was published again, by reason.",
    ),
    Metric::counter(
        "dipper_outbox_acked_total",
        &[],
        "Outbox messages the relay acknowledged (and the box deleted).",
    ),
    Metric::counter(
        "dipper_uplink_dropped_total",
        &["reason"],
        "Messages from the relay the box dropped, by reason.",
    ),
    Metric::counter(
        "dipper_rpc_total",
        &["method"],
        "RPCs from the relay answered, by method.",
    ),
    Metric::gauge(
        "dipper_upload_grants_pending",
        &[],
        "Snapshot upload grants waiting to be used.",
    ),
    Metric::counter(
        "dipper_upload_grants_received_total",
        &["outcome"],
        "Snapshot upload grants received from the relay: stored, or refused and why.",
    ),
    Metric::counter(
        "dipper_snapshot_uploads_total",
        &["outcome"],
        "Snapshot uploads ended, by outcome.",
    ),
    Metric::counter(
        "dipper_snapshot_upload_bytes_total",
        &[],
        "Bytes of snapshots uploaded to the relay's object store.",
    ),
];

/// Installs the process's Prometheus recorder for [`TABLE`].
pub(crate) fn install() -> Result<PrometheusHandle, BuildError> {
    web_common::metrics::install(TABLE)
}

#[cfg(test)]
mod tests {
    use testkit::metrics::{Exporter, check_dashboards, check_table};

    use super::TABLE;

    #[test]
    fn the_table_is_what_the_code_records() {
        check_table(Exporter::Box, TABLE);
    }

    #[test]
    fn the_fleet_dashboard_names_only_metrics_of_the_table() {
        check_dashboards(Exporter::Box, TABLE);
    }
}
