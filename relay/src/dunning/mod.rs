//! Dunning (docs/design/0080-billing.md, "Dunning"): a tenant that leaves an invoice unpaid
//! `overdue_after_days` past its due date is `overdue` (warned), and `suspended`
//! `suspend_after_days` after that: its users still sign in, read invoices and usage, but
//! start no search and change no device, and its boxes refuse cloud searches (told by the
//! `setStanding` RPC) while their local work goes on. Paying, crediting or voiding
//! everything overdue restores it at once, in that change's transaction.
//!
//! Invariants: the check ([`check::run`]) only moves a tenant forward (good -> overdue ->
//! suspended), so a check as of any time never restores; only [`standing::after_settlement`]
//! moves it back, and only when no invoice of the tenant is overdue. Every move is recorded
//! in the standing, the audit log (with its reason), `relay_events` and the notifications
//! outbox, in one transaction.

pub mod check;
pub mod offline;
pub mod standing;
