//! Invoicing (docs/design/0080-billing.md, "Rules and invoices"): the monthly run that closes
//! a month per tenant into its invoice (`run.rs`), and the scheduler through which one relay
//! instance runs it when a month ends (`scheduler.rs`).

pub mod run;
pub mod scheduler;

pub use run::{Outcome, RunOptions, RunSummary, TenantOutcome, run};
