//! Holds each daemon's metric table (`web_common::metrics::Metric`) to the code that records
//! the metrics, to the Grafana dashboards in `packaging/grafana/`, and to what a running
//! daemon's `/metrics` says.
//!
//! - [`check_table`]: every `counter!`/`gauge!`/`histogram!` in the sources an exporter
//!   builds from names a metric of its table, with the table's kind and exactly its labels,
//!   and every metric of the table is recorded somewhere. The sources are read, not run, so
//!   a metric recorded only on a rare error path counts too. The name must be a string
//!   literal or a `const NAME: &str = "..."` of the crate, and each label a
//!   `"label" => value` pair: anything the scan cannot read (a name built at run time, a
//!   label list in a variable) fails the check rather than escaping it.
//! - [`check_dashboards`]: every dashboard tagged for the exporter (`dipper-box`,
//!   `dipper-relay`) parses, and each PromQL expression of its panels and variables (parsed
//!   by `promql-parser`, Grafana's `$variables` allowed in label values and ranges) names
//!   only series of the table (a histogram as `_bucket`/`_sum`/`_count`), with their
//!   labels (plus `instance` and `job`, which the scrape adds); `rate()` and `increase()`
//!   take counters and histogram series only. A panel naming a metric nobody records fails.
//! - [`assert_described`]: every family in a daemon's `/metrics` text has its `# HELP`
//!   line (which only the table gives) and no summary: `testkit`'s `metrics()` helpers of
//!   both daemons check each scrape a test makes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use promql_parser::parser::{self, Expr};
use serde_json::Value;
use web_common::metrics::{Kind, Metric};

/// A daemon whose `/metrics` a table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// `dipper run`.
    Box,
    /// `dipper-relay run`.
    Relay,
}

impl Exporter {
    /// The tag its dashboards carry.
    pub fn tag(self) -> &'static str {
        match self {
            Exporter::Box => "dipper-box",
            Exporter::Relay => "dipper-relay",
        }
    }
}

/// Which daemon exports the metrics recorded under each source folder (of the workspace's
/// root). A folder of the workspace recording metrics and not listed here fails
/// [`check_table`]: its metrics would be checked against no table. The relay links only
/// `pipeline`'s face stages, which record nothing; `pipeline`'s metrics are the box's.
const SOURCES: &[(&str, Exporter)] = &[
    ("appliance/src", Exporter::Box),
    ("isapi/src", Exporter::Box),
    ("pipeline/src", Exporter::Box),
    ("relay/src", Exporter::Relay),
    ("billing/src", Exporter::Relay),
];

/// Labels every series gets from the Prometheus scrape, not from the code.
const SCRAPE_LABELS: &[&str] = &["instance", "job"];

/// One `counter!`/`gauge!`/`histogram!` in the sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Relative to the workspace's root, with the line: `appliance/src/engine/disk.rs:136`.
    pub at: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: &'static str,
    pub name: String,
    pub labels: Vec<String>,
}

/// Checks `table` and the sources of `exporter` against each other; panics listing every
/// problem.
pub fn check_table(exporter: Exporter, table: &[Metric]) {
    let (sites, mut problems) = scan_workspace(&crate::repo());
    problems.extend(table_problems(table));
    let mine: Vec<Site> = sites
        .into_iter()
        .filter(|site| exporter_of(&site.at) == Some(exporter))
        .collect();
    problems.extend(sites_against_table(&mine, table));
    report(&format!("the {exporter:?} metric table"), problems);
}

/// Checks every dashboard in `packaging/grafana/` tagged for `exporter` against `table`
/// (and that each dashboard there is tagged for one exporter); panics listing every
/// problem.
pub fn check_dashboards(exporter: Exporter, table: &[Metric]) {
    let dir = crate::repo().join("packaging/grafana");
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let text = std::fs::read_to_string(&path).expect("a dashboard");
        let dashboard: Value = match serde_json::from_str(&text) {
            Ok(dashboard) => dashboard,
            Err(e) => {
                problems.push(format!("{name}: not JSON: {e}"));
                continue;
            }
        };
        match dashboard_exporter(&dashboard) {
            Ok(of) if of == exporter => {
                checked += 1;
                problems.extend(
                    dashboard_problems(&dashboard, table)
                        .into_iter()
                        .map(|p| format!("{name}: {p}")),
                );
            }
            Ok(_) => {}
            Err(problem) => problems.push(format!("{name}: {problem}")),
        }
    }
    if checked == 0 {
        problems.push(format!(
            "no dashboard tagged {:?} in {}",
            exporter.tag(),
            dir.display()
        ));
    }
    report(&format!("the {exporter:?} dashboards"), problems);
}

/// Panics unless every metric family in `text` (a `/metrics` scrape) has a `# HELP` line
/// and none is a summary (a histogram without buckets in its table).
pub fn assert_described(text: &str) {
    let problems = described_problems(text);
    assert!(
        problems.is_empty(),
        "/metrics has metrics outside the daemon's table:\n{}\n\n{text}",
        problems.join("\n")
    );
}

fn report(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

fn exporter_of(at: &str) -> Option<Exporter> {
    SOURCES
        .iter()
        .find(|(dir, _)| at.starts_with(&format!("{dir}/")))
        .map(|&(_, exporter)| exporter)
}

/// The problems of `text`, a `/metrics` scrape: families without `# HELP`, summaries.
pub fn described_problems(text: &str) -> Vec<String> {
    let mut helped = BTreeSet::new();
    let mut typed = BTreeMap::new();
    let mut problems = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap_or_default().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut words = rest.split(' ');
            let name = words.next().unwrap_or_default().to_owned();
            typed.insert(name, words.next().unwrap_or_default().to_owned());
        }
    }
    for (name, kind) in &typed {
        if !helped.contains(name) {
            problems.push(format!(
                "{name} ({kind}) has no # HELP line: it is not in the table"
            ));
        }
        if kind == "summary" {
            problems.push(format!(
                "{name} is a summary: give the histogram its buckets in the table"
            ));
        }
    }
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let series = line.split(['{', ' ']).next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                series
                    .strip_suffix(suffix)
                    .filter(|base| typed.contains_key(*base))
            })
            .unwrap_or(series);
        if !typed.contains_key(family) {
            problems.push(format!("{series} has no # TYPE line"));
        }
    }
    problems.dedup();
    problems
}

/// What is wrong with the table itself.
pub fn table_problems(table: &[Metric]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for metric in table {
        let name = metric.name;
        if !seen.insert(name) {
            problems.push(format!("{name} is in the table twice"));
        }
        if !is_metric_name(name) {
            problems.push(format!("{name:?} is not a Prometheus metric name"));
        }
        if metric.help.trim().is_empty() {
            problems.push(format!("{name} has no help"));
        }
        match metric.kind {
            Kind::Counter if !name.ends_with("_total") => {
                problems.push(format!("{name}: a counter's name ends in _total"));
            }
            Kind::Gauge | Kind::Histogram { .. } if name.ends_with("_total") => {
                problems.push(format!("{name}: only a counter's name ends in _total"));
            }
            Kind::Histogram { buckets }
                if buckets.is_empty() || buckets.windows(2).any(|w| w[0] >= w[1]) =>
            {
                problems.push(format!("{name}: a histogram needs increasing buckets"));
            }
            _ => {}
        }
        for label in metric.labels {
            if !is_label_name(label) || SCRAPE_LABELS.contains(label) || *label == "le" {
                problems.push(format!("{name}: {label:?} cannot be one of its labels"));
            }
        }
    }
    problems
}

/// What disagrees between `sites` (an exporter's) and its `table`.
pub fn sites_against_table(sites: &[Site], table: &[Metric]) -> Vec<String> {
    let mut problems = Vec::new();
    for site in sites {
        let Site {
            at,
            kind,
            name,
            labels,
        } = site;
        let Some(metric) = table.iter().find(|m| m.name == name) else {
            problems.push(format!("{at}: {name} is recorded but not in the table"));
            continue;
        };
        if metric.kind.as_str() != *kind {
            problems.push(format!(
                "{at}: {name} is recorded as a {kind}, the table says {}",
                metric.kind.as_str()
            ));
        }
        let recorded: BTreeSet<&str> = labels.iter().map(String::as_str).collect();
        let listed: BTreeSet<&str> = metric.labels.iter().copied().collect();
        if recorded != listed {
            problems.push(format!(
                "{at}: {name} is recorded with labels {recorded:?}, the table says {listed:?}"
            ));
        }
    }
    for metric in table {
        if !sites.iter().any(|site| site.name == metric.name) {
            problems.push(format!(
                "{} is in the table but nothing records it",
                metric.name
            ));
        }
    }
    problems
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

// ---- The source scan ----

/// Every metric site under the workspace's crates' `src/` (test files left out), and what
/// the scan could not read or place.
pub fn scan_workspace(root: &Path) -> (Vec<Site>, Vec<String>) {
    let mut sites = Vec::new();
    let mut problems = Vec::new();
    let mut crates: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("the workspace")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|dir| dir.join("Cargo.toml").is_file() && dir.join("src").is_dir())
        .collect();
    crates.sort();
    for dir in crates {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        files.sort();
        let texts: Vec<(String, String)> = files
            .iter()
            .map(|path| {
                let relative = path.strip_prefix(root).unwrap_or(path);
                let text = std::fs::read_to_string(path).expect("a source file");
                (relative.display().to_string(), text)
            })
            .collect();
        let consts: Vec<(String, String)> = texts
            .iter()
            .flat_map(|(_, text)| string_consts(text))
            .collect();
        for (file, text) in &texts {
            let own = string_consts(text);
            let (found, unread) = scan_source(file, text, &[own, consts.clone()]);
            problems.extend(unread);
            for site in found {
                if exporter_of(&site.at).is_none() {
                    problems.push(format!(
                        "{}: {} is recorded in a crate no daemon's table covers: add its \
                         folder to testkit::metrics::SOURCES",
                        site.at, site.name
                    ));
                }
                sites.push(site);
            }
        }
    }
    (sites, problems)
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if name != "tests" {
                rust_files(&path, files);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") && name != "tests.rs" {
            files.push(path);
        }
    }
}

/// `text` with its comments and the insides of its string and character literals blanked
/// (byte for byte, newlines kept), so macros are found only in code and offsets still point
/// into `text`.
fn mask(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        match masked_at(text, i) {
            Some(Masked { blank, next }) => {
                for b in &mut out[blank.start..blank.end.min(bytes.len())] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = next;
            }
            None => i += 1,
        }
    }
    out
}

/// A comment or literal [`mask`] found: the bytes it blanks, and where the scan goes on.
struct Masked {
    blank: std::ops::Range<usize>,
    next: usize,
}

/// The comment, or the inside of the string or character literal, that starts at byte `i`
/// of `text`; `None` where none does.
fn masked_at(text: &str, i: usize) -> Option<Masked> {
    let bytes = text.as_bytes();
    match bytes[i] {
        b'/' if bytes.get(i + 1) == Some(&b'/') => {
            let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            Some(Masked {
                blank: i..end,
                next: end,
            })
        }
        b'/' if bytes.get(i + 1) == Some(&b'*') => {
            let end = block_comment_end(bytes, i);
            Some(Masked {
                blank: i..end,
                next: end,
            })
        }
        b'r' if !is_ident_byte(bytes.get(i.wrapping_sub(1)).copied())
            && matches!(bytes.get(i + 1), Some(b'"' | b'#')) =>
        {
            raw_string_at(text, i)
        }
        b'"' => {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            Some(Masked {
                blank: i + 1..j,
                next: j + 1,
            })
        }
        b'\'' => char_literal_at(text, i),
        _ => None,
    }
}

/// The end of the block comment opening at `start` (nested ones included).
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut j = start;
    while j < bytes.len() {
        if bytes[j..].starts_with(b"/*") {
            depth += 1;
            j += 2;
        } else if bytes[j..].starts_with(b"*/") {
            depth -= 1;
            j += 2;
            if depth == 0 {
                break;
            }
        } else {
            j += 1;
        }
    }
    j
}

/// The raw string (`r"..."`, `r#"..."#`) at `i`, if the `r` opens one.
fn raw_string_at(text: &str, i: usize) -> Option<Masked> {
    let bytes = text.as_bytes();
    let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
    let open = i + 1 + hashes;
    if bytes.get(open) != Some(&b'"') {
        return None;
    }
    let close = format!("\"{}", "#".repeat(hashes));
    let end = text[open + 1..]
        .find(&close)
        .map_or(bytes.len(), |n| open + 1 + n);
    Some(Masked {
        blank: open + 1..end,
        next: end + close.len(),
    })
}

/// A character literal ('x', '\n', '"') at `i`, not a lifetime ('a).
fn char_literal_at(text: &str, i: usize) -> Option<Masked> {
    let bytes = text.as_bytes();
    let end = if bytes.get(i + 1) == Some(&b'\\') {
        text[i + 2..].find('\'').map(|n| i + 2 + n)
    } else {
        let width = text[i + 1..].chars().next().map_or(1, char::len_utf8);
        (bytes.get(i + 1 + width) == Some(&b'\'')).then_some(i + 1 + width)
    }?;
    Some(Masked {
        blank: i + 1..end,
        next: end + 1,
    })
}

fn is_ident_byte(byte: Option<u8>) -> bool {
    byte.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Every `const NAME: &str = "value";` of `text`.
fn string_consts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start();
            let rest = rest
                .strip_prefix("pub ")
                .or_else(|| rest.strip_prefix("pub(crate) "))
                .or_else(|| rest.strip_prefix("pub(super) "))
                .unwrap_or(rest);
            let (name, value) = rest.strip_prefix("const ")?.split_once(':')?;
            let value = value.trim_start();
            let value = value
                .strip_prefix("&'static str")
                .or_else(|| value.strip_prefix("&str"))?;
            let value = value.trim().strip_prefix('=')?.trim().strip_suffix(';')?;
            Some((name.trim().to_owned(), string_literal(value)?))
        })
        .collect()
}

/// The value of a plain string literal without escapes.
fn string_literal(text: &str) -> Option<String> {
    let inner = text.trim().strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then(|| inner.to_owned())
}

/// The metric sites of one file (`file` names it in messages), and what could not be read.
/// A constant naming a metric is looked up in each of `consts` in turn (the file's own,
/// then its crate's) until found.
pub fn scan_source(
    file: &str,
    text: &str,
    consts: &[Vec<(String, String)>],
) -> (Vec<Site>, Vec<String>) {
    let masked = mask(text);
    let code = String::from_utf8_lossy(&masked).into_owned();
    let mut sites = Vec::new();
    let mut problems = Vec::new();
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    for api in ["register_counter", "register_gauge", "register_histogram"] {
        for (offset, _) in code.match_indices(api) {
            problems.push(format!(
                "{file}:{}: {api}: record with counter!/gauge!/histogram! so the table's \
                 check reads it",
                line_of(offset)
            ));
        }
    }
    for kind in ["counter", "gauge", "histogram"] {
        let call = format!("{kind}!");
        for (offset, _) in code.match_indices(&call) {
            if is_ident_byte(offset.checked_sub(1).map(|i| masked[i])) {
                continue;
            }
            let at = format!("{file}:{}", line_of(offset));
            let after = offset + call.len();
            let open = after + (code[after..].len() - code[after..].trim_start().len());
            if !code[open..].starts_with('(') {
                problems.push(format!("{at}: {call} without parentheses"));
                continue;
            }
            let Some(args) = arguments(&code, open) else {
                problems.push(format!("{at}: {call}( is never closed"));
                continue;
            };
            let args: Vec<&str> = args
                .iter()
                .map(|&(from, to)| text[from..to].trim())
                .collect();
            match read_site(&args, consts) {
                Ok((name, labels)) => sites.push(Site {
                    at,
                    kind,
                    name,
                    labels,
                }),
                Err(problem) => problems.push(format!("{at}: {problem}")),
            }
        }
    }
    (sites, problems)
}

/// The byte ranges of the top-level arguments of the call whose `(` is at `open` in
/// `code` (masked).
fn arguments(code: &str, open: usize) -> Option<Vec<(usize, usize)>> {
    let bytes = code.as_bytes();
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut args = Vec::new();
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    if !code[start..i].trim().is_empty() {
                        args.push((start, i));
                    }
                    return Some(args);
                }
            }
            b',' if depth == 1 => {
                args.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

fn read_site(
    args: &[&str],
    consts: &[Vec<(String, String)>],
) -> Result<(String, Vec<String>), String> {
    let Some((first, rest)) = args.split_first() else {
        return Err("a metric macro without a name".to_owned());
    };
    let name = if first.starts_with('"') {
        string_literal(first).ok_or_else(|| format!("{first}: not a plain string literal"))?
    } else if first
        .split("::")
        .all(|part| !part.is_empty() && part.bytes().all(|b| is_ident_byte(Some(b))))
    {
        let ident = first.rsplit("::").next().unwrap_or(first);
        let values: BTreeSet<&str> = consts
            .iter()
            .map(|tier| {
                tier.iter()
                    .filter(|(name, _)| name == ident)
                    .map(|(_, value)| value.as_str())
                    .collect::<BTreeSet<&str>>()
            })
            .find(|values| !values.is_empty())
            .unwrap_or_default();
        match values.len() {
            1 => values.into_iter().next().unwrap_or_default().to_owned(),
            0 => {
                return Err(format!(
                    "{first}: no `const {ident}: &str = \"...\";` in its crate (a name built at \
                     run time cannot be checked)"
                ));
            }
            _ => return Err(format!("{first}: several constants {ident} in its crate")),
        }
    } else {
        return Err(format!(
            "{first}: the name must be a string literal or a constant (a name built at run \
             time cannot be checked)"
        ));
    };
    let mut labels = Vec::new();
    for arg in rest {
        let label = arg
            .split_once("=>")
            .and_then(|(key, _)| string_literal(key))
            .ok_or_else(|| {
                format!("{name}: {arg}: write each label as \"label\" => value, so it is checked")
            })?;
        labels.push(label);
    }
    Ok((name, labels))
}

// ---- The dashboards ----

/// The exporter a dashboard is tagged for.
fn dashboard_exporter(dashboard: &Value) -> Result<Exporter, String> {
    let tags: Vec<&str> = dashboard["tags"]
        .as_array()
        .map(|tags| tags.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let of: Vec<Exporter> = [Exporter::Box, Exporter::Relay]
        .into_iter()
        .filter(|e| tags.contains(&e.tag()))
        .collect();
    match of[..] {
        [one] => Ok(one),
        _ => Err(format!(
            "tagged {tags:?}: a dashboard carries exactly one of the tags {:?} and {:?}",
            Exporter::Box.tag(),
            Exporter::Relay.tag()
        )),
    }
}

/// The series a table exports: name -> (its metric, the labels it may carry).
fn series_of(table: &[Metric]) -> BTreeMap<String, (Metric, BTreeSet<&'static str>)> {
    let mut series = BTreeMap::new();
    for metric in table {
        for (name, extra) in metric.series() {
            let labels = metric
                .labels
                .iter()
                .chain(extra)
                .chain(SCRAPE_LABELS)
                .copied()
                .collect();
            series.insert(name, (*metric, labels));
        }
    }
    series
}

/// What is wrong with one dashboard (already known to be `table`'s).
pub fn dashboard_problems(dashboard: &Value, table: &[Metric]) -> Vec<String> {
    let series = series_of(table);
    let mut problems = Vec::new();
    if dashboard["uid"].as_str().is_none_or(str::is_empty) {
        problems.push("no uid".to_owned());
    }
    if dashboard["schemaVersion"].as_u64().is_none() {
        problems.push("no schemaVersion".to_owned());
    }
    let variables = dashboard["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let datasource_variable = variables
        .iter()
        .find(|v| v["type"] == "datasource" && v["query"] == "prometheus")
        .and_then(|v| v["name"].as_str())
        .map(|name| format!("${{{name}}}"));
    let Some(datasource) = datasource_variable else {
        problems.push("no datasource variable of type prometheus".to_owned());
        return problems;
    };
    problems.extend(query_variable_problems(&variables, &datasource, &series));
    problems.extend(panel_problems(dashboard, &datasource, &series));
    problems
}

/// What is wrong with the dashboard's query variables: each must use the datasource
/// variable `datasource` and query a series of `series`.
fn query_variable_problems(
    variables: &[Value],
    datasource: &str,
    series: &BTreeMap<String, (Metric, BTreeSet<&'static str>)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for variable in variables {
        let name = variable["name"].as_str().unwrap_or("?");
        if variable["type"] != "query" {
            continue;
        }
        problems.extend(datasource_problems(
            &variable["datasource"],
            datasource,
            name,
        ));
        let query = variable["query"]["query"]
            .as_str()
            .or(variable["query"].as_str())
            .unwrap_or_default();
        problems.extend(
            variable_query_problems(query, series)
                .into_iter()
                .map(|p| format!("variable {name}: {p}")),
        );
    }
    problems
}

/// What is wrong with the dashboard's panels: ids used twice, another datasource than the
/// variable `datasource`, no query, expressions naming what `series` lacks, and none at all
/// querying anything.
fn panel_problems(
    dashboard: &Value,
    datasource: &str,
    series: &BTreeMap<String, (Metric, BTreeSet<&'static str>)>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    let mut queries = 0;
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or("?");
        if let Some(id) = panel["id"].as_u64()
            && !ids.insert(id)
        {
            problems.push(format!("panel {title:?}: id {id} is used twice"));
        }
        if matches!(panel["type"].as_str(), Some("row" | "text")) {
            continue;
        }
        problems.extend(datasource_problems(
            &panel["datasource"],
            datasource,
            &format!("panel {title:?}"),
        ));
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("panel {title:?} has no query"));
        }
        for target in &targets {
            let Some(expr) = target["expr"].as_str() else {
                problems.push(format!("panel {title:?}: a target without an expr"));
                continue;
            };
            queries += 1;
            problems.extend(
                expr_problems(expr, series)
                    .into_iter()
                    .map(|p| format!("panel {title:?}: {p}")),
            );
        }
    }
    if queries == 0 {
        problems.push("no panel queries anything".to_owned());
    }
    problems
}

/// Every panel, those in rows too.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

fn datasource_problems(datasource: &Value, variable: &str, what: &str) -> Vec<String> {
    if datasource["type"] == "prometheus" && datasource["uid"] == variable {
        Vec::new()
    } else {
        vec![format!(
            "{what}: its datasource is {datasource}, not {{\"type\": \"prometheus\", \"uid\": \
             \"{variable}\"}} (importable anywhere)"
        )]
    }
}

/// A variable's query: `label_values(<selector>, <label>)`, whose selector names a series
/// carrying the label. `label_values(<label>)` alone names no metric and is refused.
fn variable_query_problems(
    query: &str,
    series: &BTreeMap<String, (Metric, BTreeSet<&'static str>)>,
) -> Vec<String> {
    let Some(inner) = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
    else {
        return vec![format!(
            "{query:?}: only label_values(<selector>, <label>) queries are checked"
        )];
    };
    let Some((selector, label)) = inner.rsplit_once(',') else {
        return vec![format!(
            "{query:?}: name the metric whose label values it lists"
        )];
    };
    let mut problems = expr_problems(selector, series);
    let label = label.trim();
    if let Ok(Expr::VectorSelector(vs)) = parser::parse(&substitute(selector)) {
        let name = vs.name.unwrap_or_default();
        if let Some((_, labels)) = series.get(&name)
            && !labels.contains(label)
        {
            problems.push(format!("{name} has no label {label:?}"));
        }
    } else {
        problems.push(format!("{selector:?} is not one series selector"));
    }
    problems
}

/// Grafana's interval variables as a duration the parser takes; other variables may stand
/// only in label values, inside strings.
fn substitute(expr: &str) -> String {
    let mut out = expr.to_owned();
    for variable in ["__rate_interval", "__interval", "__range"] {
        out = out.replace(&format!("${{{variable}}}"), "5m");
        out = out.replace(&format!("${variable}"), "5m");
    }
    out
}

/// What is wrong with one PromQL expression of a panel.
pub fn expr_problems(
    expr: &str,
    series: &BTreeMap<String, (Metric, BTreeSet<&'static str>)>,
) -> Vec<String> {
    let parsed = match parser::parse(&substitute(expr)) {
        Ok(parsed) => parsed,
        Err(e) => return vec![format!("{expr:?} does not parse: {e}")],
    };
    let mut walk = Walk {
        series,
        problems: Vec::new(),
        used_labels: BTreeSet::new(),
        known_labels: BTreeSet::new(),
        made_labels: BTreeSet::new(),
    };
    walk.expr(&parsed, None);
    let Walk {
        mut problems,
        used_labels,
        known_labels,
        made_labels,
        ..
    } = walk;
    for label in used_labels {
        if !known_labels.contains(&label) && !made_labels.contains(&label) {
            problems.push(format!(
                "groups or matches on {label:?}, which none of its metrics has"
            ));
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{expr:?}: {p}"))
        .collect()
}

struct Walk<'a> {
    series: &'a BTreeMap<String, (Metric, BTreeSet<&'static str>)>,
    problems: Vec<String>,
    /// Labels of `by`, `without`, `on`, `ignoring` and `group_*` clauses.
    used_labels: BTreeSet<String>,
    /// Labels of the series the expression selects.
    known_labels: BTreeSet<String>,
    /// Labels `label_replace`/`label_join` make.
    made_labels: BTreeSet<String>,
}

impl Walk<'_> {
    /// `function`: the call whose argument `expr` is.
    fn expr(&mut self, expr: &Expr, function: Option<&str>) {
        match expr {
            Expr::Aggregate(aggregate) => {
                if let Some(modifier) = &aggregate.modifier {
                    let labels = modifier.labels().labels.iter().cloned();
                    self.used_labels.extend(labels);
                }
                self.expr(&aggregate.expr, None);
            }
            Expr::Unary(unary) => self.expr(&unary.expr, None),
            Expr::Binary(binary) => {
                if let Some(modifier) = &binary.modifier {
                    if let Some(matching) = &modifier.matching {
                        self.used_labels
                            .extend(matching.labels().labels.iter().cloned());
                    }
                    if let Some(group) = modifier.card.labels() {
                        self.used_labels.extend(group.labels.iter().cloned());
                    }
                }
                self.expr(&binary.lhs, None);
                self.expr(&binary.rhs, None);
            }
            Expr::Paren(paren) => self.expr(&paren.expr, function),
            Expr::Subquery(subquery) => self.expr(&subquery.expr, None),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
            Expr::VectorSelector(selector) => self.selector(selector, function),
            Expr::MatrixSelector(matrix) => self.selector(&matrix.vs, function),
            Expr::Call(call) => {
                let name = call.func.name;
                if matches!(name, "label_replace" | "label_join")
                    && let Some(made) = call.args.args.get(1)
                    && let Expr::StringLiteral(made) = made.as_ref()
                {
                    self.made_labels.insert(made.val.clone());
                }
                for arg in &call.args.args {
                    self.expr(arg, Some(name));
                }
            }
        }
    }

    fn selector(&mut self, selector: &parser::VectorSelector, function: Option<&str>) {
        let Some(name) = &selector.name else {
            self.problems
                .push("a selector without a metric name cannot be checked".to_owned());
            return;
        };
        let Some((metric, labels)) = self.series.get(name) else {
            self.problems
                .push(format!("{name} is not a series of any metric in the table"));
            return;
        };
        self.known_labels
            .extend(labels.iter().map(|l| (*l).to_owned()));
        let matchers = selector
            .matchers
            .matchers
            .iter()
            .chain(selector.matchers.or_matchers.iter().flatten());
        for matcher in matchers {
            if matcher.name != "__name__" && !labels.contains(matcher.name.as_str()) {
                self.problems
                    .push(format!("{name} has no label {:?}", matcher.name));
            }
        }
        if metric.kind == Kind::Gauge
            && let Some(function @ ("rate" | "irate" | "increase")) = function
        {
            self.problems.push(format!(
                "{function}() of {name}, a gauge (rate and increase are for counters)"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[Metric] = &[
        Metric::counter("app_bytes_total", &["source"], "Bytes."),
        Metric::gauge("app_queue_depth", &["level"], "Queued."),
        Metric::histogram(
            "app_request_seconds",
            &["route", "status"],
            &[0.1, 1.0],
            "Latency.",
        ),
    ];

    fn check(expr: &str) -> Vec<String> {
        expr_problems(expr, &series_of(TABLE))
    }

    #[test]
    fn expressions_naming_the_tables_series_pass() {
        for expr in [
            "sum by (source) (rate(app_bytes_total{instance=~\"$instance\"}[$__rate_interval]))",
            "histogram_quantile(0.99, sum by (le, route) (rate(app_request_seconds_bucket[5m])))",
            "sum(rate(app_request_seconds_sum[${__rate_interval}])) / sum(rate(app_request_seconds_count[5m]))",
            "max by (instance) (app_queue_depth{job=\"$job\", level=\"0\"})",
            "sum(label_replace(app_queue_depth, \"class\", \"$1\", \"level\", \"(.)\")) by (class)",
            "app_queue_depth > on (instance, level) group_left app_queue_depth",
        ] {
            assert_eq!(check(expr), Vec::<String>::new(), "{expr}");
        }
    }

    #[test]
    fn expressions_naming_what_the_table_lacks_fail() {
        for (expr, expected) in [
            (
                "rate(app_bytes_gone_total[5m])",
                "app_bytes_gone_total is not a series",
            ),
            ("app_request_seconds", "app_request_seconds is not a series"),
            (
                "app_bytes_total_bucket",
                "app_bytes_total_bucket is not a series",
            ),
            ("sum by (sauce) (rate(app_bytes_total[5m]))", "\"sauce\""),
            ("app_queue_depth{levle=\"1\"}", "no label \"levle\""),
            (
                "rate(app_queue_depth[5m])",
                "rate() of app_queue_depth, a gauge",
            ),
            ("{__name__=\"app_queue_depth\"}", "without a metric name"),
            ("sum(rate(app_bytes_total[5m])", "does not parse"),
            (
                "app_queue_depth{level=\"1\"} offset $shift",
                "does not parse",
            ),
        ] {
            let problems = check(expr);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expr}: expected {expected:?} in {problems:?}"
            );
        }
    }

    #[test]
    fn variable_queries_name_a_metric_and_one_of_its_labels() {
        let series = series_of(TABLE);
        assert!(
            variable_query_problems("label_values(app_queue_depth, instance)", &series).is_empty()
        );
        assert!(
            variable_query_problems(
                "label_values(app_queue_depth{job=~\"$job\"}, level)",
                &series
            )
            .is_empty()
        );
        for query in [
            "label_values(instance)",
            "label_values(app_queue_depth, route)",
            "label_values(app_gone, instance)",
            "query_result(app_queue_depth)",
        ] {
            assert!(
                !variable_query_problems(query, &series).is_empty(),
                "{query}"
            );
        }
    }

    const SOURCE: &str = r#"
const BYTES: &str = "app_bytes_total";
// metrics::counter!("app_in_a_comment_total").increment(1);
fn f(level: &str) {
    let _ = "metrics::counter!(\"app_in_a_string_total\")";
    metrics::counter!(BYTES, "source" => source.as_str()).increment(n);
    ::metrics::gauge!(
        "app_queue_depth",
        "level" => level.to_owned(),
    )
    .set(1.0);
    metrics::histogram!(REQUEST, "route" => r, "status" => s).record(0.1);
    metrics::describe_counter!(BYTES, "help");
}
"#;

    #[test]
    fn the_scan_reads_names_constants_and_labels_outside_comments_and_strings() {
        let consts = vec![
            ("BYTES".to_owned(), "app_bytes_total".to_owned()),
            ("REQUEST".to_owned(), "app_request_seconds".to_owned()),
        ];
        let (sites, problems) = scan_source("x/src/a.rs", SOURCE, std::slice::from_ref(&consts));
        assert!(problems.is_empty(), "{problems:?}");
        let found: Vec<(&str, &str, Vec<String>)> = sites
            .iter()
            .map(|s| (s.kind, s.name.as_str(), s.labels.clone()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("counter", "app_bytes_total", vec!["source".to_owned()]),
                ("gauge", "app_queue_depth", vec!["level".to_owned()]),
                (
                    "histogram",
                    "app_request_seconds",
                    vec!["route".to_owned(), "status".to_owned()]
                ),
            ]
        );
        assert_eq!(sites[1].at, "x/src/a.rs:7");
        assert!(sites_against_table(&sites, TABLE).is_empty());
        assert_eq!(string_consts(SOURCE), consts[..1].to_vec());
        // The file's own constant wins over another of its crate by the same name.
        let elsewhere = vec![("BYTES".to_owned(), "other_bytes_total".to_owned())];
        let tiers = [string_consts(SOURCE), elsewhere, consts];
        let (sites, _) = scan_source("x/src/a.rs", SOURCE, &tiers);
        assert_eq!(sites[0].name, "app_bytes_total");
    }

    #[test]
    fn the_scan_refuses_what_it_cannot_read() {
        for (source, expected) in [
            (
                "metrics::counter!(format!(\"x_{}\", n))",
                "built at run time",
            ),
            ("metrics::gauge!(UNKNOWN)", "no `const UNKNOWN"),
            (
                "metrics::gauge!(\"app_queue_depth\", &labels)",
                "write each label",
            ),
            ("metrics::gauge!(\"app_queue_depth\"", "never closed"),
            ("recorder.register_counter(&key, &meta)", "register_counter"),
        ] {
            let (_, problems) = scan_source("x/src/b.rs", source, &[]);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{source}: expected {expected:?} in {problems:?}"
            );
        }
    }

    #[test]
    fn code_and_table_must_agree_both_ways() {
        let site = |kind, name: &str, labels: &[&str]| Site {
            at: "x/src/c.rs:1".to_owned(),
            kind,
            name: name.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        };
        let sites = [
            site("counter", "app_bytes_total", &["source"]),
            site("counter", "app_queue_depth", &["level"]),
            site("histogram", "app_request_seconds", &["route"]),
            site("counter", "app_renamed_total", &[]),
        ];
        let problems = sites_against_table(&sites, TABLE).join("\n");
        for expected in [
            "app_queue_depth is recorded as a counter, the table says gauge",
            "app_request_seconds is recorded with labels {\"route\"}",
            "app_renamed_total is recorded but not in the table",
        ] {
            assert!(problems.contains(expected), "{expected:?} in {problems}");
        }
        let problems = sites_against_table(&sites[..1], TABLE).join("\n");
        assert!(problems.contains("app_queue_depth is in the table but nothing records it"));
    }

    #[test]
    fn a_table_is_refused_with_bad_names_kinds_or_buckets() {
        let problems = table_problems(&[
            Metric::counter("app_bytes", &[], "Bytes."),
            Metric::gauge("app_gauge_total", &[], "x"),
            Metric::gauge("app-dash", &[], "x"),
            Metric::histogram("app_seconds", &["le"], &[1.0, 0.5], "x"),
            Metric::gauge("app_x", &["instance"], ""),
            Metric::gauge("app_x", &[], "x"),
        ])
        .join("\n");
        for expected in [
            "app_bytes: a counter's name ends in _total",
            "app_gauge_total: only a counter's",
            "\"app-dash\" is not a Prometheus metric name",
            "app_seconds: a histogram needs increasing buckets",
            "app_seconds: \"le\" cannot be one of its labels",
            "app_x: \"instance\" cannot be one of its labels",
            "app_x has no help",
            "app_x is in the table twice",
        ] {
            assert!(problems.contains(expected), "{expected:?} in {problems}");
        }
    }

    #[test]
    fn a_scrape_without_help_or_with_a_summary_is_refused() {
        let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n\n\
                    # HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n";
        assert_eq!(described_problems(good), Vec::<String>::new());
        let bad = "# TYPE a_total counter\na_total 2\n# HELP s S.\n# TYPE s summary\n\
                   s{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\nloose 1\n";
        let problems = described_problems(bad).join("\n");
        for expected in [
            "a_total (counter) has no # HELP line",
            "s is a summary",
            "loose has no # TYPE line",
        ] {
            assert!(problems.contains(expected), "{expected:?} in {problems}");
        }
    }

    #[test]
    fn dashboards_are_tagged_for_one_exporter_and_use_the_datasource_variable() {
        let dashboard = serde_json::json!({
            "uid": "x", "schemaVersion": 39, "tags": ["dipper-box"],
            "templating": {"list": [
                {"name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus"},
            ]},
            "panels": [
                {"type": "row", "title": "Row", "id": 1, "panels": []},
                {"type": "timeseries", "title": "Good", "id": 2,
                 "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                 "targets": [{"expr": "app_queue_depth"}]},
                {"type": "stat", "title": "Elsewhere", "id": 2,
                 "datasource": {"type": "prometheus", "uid": "abc"},
                 "targets": [{"expr": "app_gone"}]},
                {"type": "stat", "title": "Empty", "id": 3,
                 "datasource": {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}},
            ],
        });
        assert_eq!(dashboard_exporter(&dashboard), Ok(Exporter::Box));
        let problems = dashboard_problems(&dashboard, TABLE).join("\n");
        for expected in [
            "panel \"Elsewhere\": id 2 is used twice",
            "panel \"Elsewhere\": its datasource",
            "panel \"Elsewhere\": \"app_gone\": app_gone is not a series",
            "panel \"Empty\" has no query",
        ] {
            assert!(problems.contains(expected), "{expected:?} in {problems}");
        }
        assert!(!problems.contains("\"Good\""), "{problems}");
        let both = serde_json::json!({"tags": ["dipper-box", "dipper-relay"]});
        assert!(dashboard_exporter(&both).is_err());
        assert!(dashboard_exporter(&serde_json::json!({})).is_err());
    }
}
