//! `dipper-bench billing` end to end at a tiny size: the database filled, `dipper-relay
//! billing run` run twice (all tenants, a tenth of them), every invoice checked against the
//! totals priced by the benchmark, then `dipper-relay billing dunning` suspending every
//! tenant. Timings are never asserted.

mod common;

use serde_json::Value;

#[test]
fn a_tiny_run_invoices_every_tenant_as_priced() {
    let report = common::report_of(&["billing", "--tenants", "20", "--boxes", "2", "--json"]);
    let int = |path: &str| {
        report
            .pointer(path)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("no integer at {path} in {report}"))
    };
    assert_eq!(int("/full/tenants"), 20);
    assert_eq!(int("/full/invoices"), 20, "{report}");
    assert_eq!(int("/full/invoices_checked"), 20, "{report}");
    assert_eq!(int("/small/tenants"), 2);
    assert_eq!(int("/small/invoices_checked"), 2, "{report}");
    // The dunning check, 60 days on, suspends every tenant.
    assert_eq!(int("/full/tenants_suspended"), 20, "{report}");
    assert_eq!(int("/small/tenants_suspended"), 2, "{report}");
    // A month of hours, three or four counters each, per tenant.
    assert!(int("/full/hourly_rows") >= 20 * 720 * 3, "{report}");
    let peak = report["full"]["peak_rss_mb"].as_f64().expect("peak");
    assert!(peak > 0.0, "{report}");
    assert!(report["peak_rss_ratio"].as_f64().expect("ratio") > 0.0);
}
