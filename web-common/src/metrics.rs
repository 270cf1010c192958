//! What a daemon's `/metrics` holds, as data: each daemon keeps one table of [`Metric`]s
//! (name, kind, label names, help) for every metric it and the libraries it links record
//! (`appliance`'s `daemon::metrics::TABLE`, `relay::metrics::TABLE`). [`install`] sets the
//! Prometheus exporter up from that table: each histogram with its buckets (so it renders
//! as `_bucket`/`_sum`/`_count`, never as a summary) and every metric described (its
//! `# HELP` line). The code records with the `metrics` macros as before; tests hold the
//! table, the code and the Grafana dashboards (`packaging/grafana/`) to each other
//! (`testkit::metrics`).

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// How a metric is recorded, and so which series it is exported as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `counter!`: one series, the name itself (which ends in `_total`).
    Counter,
    /// `gauge!`: one series, the name itself.
    Gauge,
    /// `histogram!`, with these bucket bounds: `<name>_bucket{le}`, `<name>_sum` and
    /// `<name>_count`.
    Histogram { buckets: &'static [f64] },
}

impl Kind {
    /// The name of the `metrics` macro that records it, and of its Prometheus type.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram { .. } => "histogram",
        }
    }
}

/// One metric a daemon exports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// Every label the code sets on it (the exporter adds none).
    pub labels: &'static [&'static str],
    /// Its `# HELP` line.
    pub help: &'static str,
}

impl Metric {
    pub const fn counter(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Metric {
        Metric {
            name,
            kind: Kind::Counter,
            labels,
            help,
        }
    }

    pub const fn gauge(
        name: &'static str,
        labels: &'static [&'static str],
        help: &'static str,
    ) -> Metric {
        Metric {
            name,
            kind: Kind::Gauge,
            labels,
            help,
        }
    }

    pub const fn histogram(
        name: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
        help: &'static str,
    ) -> Metric {
        Metric {
            name,
            kind: Kind::Histogram { buckets },
            labels,
            help,
        }
    }

    /// The series names it appears under in `/metrics`, with the labels each carries
    /// beyond [`Metric::labels`] (`le` on a histogram's buckets).
    pub fn series(&self) -> Vec<(String, &'static [&'static str])> {
        match self.kind {
            Kind::Counter | Kind::Gauge => vec![(self.name.to_owned(), &[])],
            Kind::Histogram { .. } => vec![
                (format!("{}_bucket", self.name), &["le"]),
                (format!("{}_sum", self.name), &[]),
                (format!("{}_count", self.name), &[]),
            ],
        }
    }
}

/// The exporter for `table`: the histograms' buckets set. Fails on a histogram without
/// buckets.
pub fn builder(table: &[Metric]) -> Result<PrometheusBuilder, BuildError> {
    table
        .iter()
        .try_fold(PrometheusBuilder::new(), |builder, metric| {
            match metric.kind {
                Kind::Histogram { buckets } => {
                    builder.set_buckets_for_metric(Matcher::Full(metric.name.to_owned()), buckets)
                }
                Kind::Counter | Kind::Gauge => Ok(builder),
            }
        })
}

/// Describes every metric of `table` to the installed recorder (the `# HELP` lines).
pub fn describe(table: &[Metric]) {
    for metric in table {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram { .. } => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

/// Installs the process's recorder for `table` ([`builder`], then [`describe`]); its
/// handle renders `/metrics`. Fails if the table is wrong or another recorder is installed.
pub fn install(table: &[Metric]) -> Result<PrometheusHandle, BuildError> {
    let handle = builder(table)?.install_recorder()?;
    describe(table);
    Ok(handle)
}
