//! Box software updates, the relay's side (docs/design/0110-software-updates.md): the
//! Ed25519 key that signs packages (`signer.rs`), a package's fields read from its bytes
//! (`package.rs`), and rollouts to a tenant's boxes in waves (`rollout.rs`). The HTTP API is
//! `api/software.rs`; the boxes' reports arrive through the uplink's inbound worker.

pub mod package;
pub mod rollout;
pub mod signer;

pub use signer::SoftwareSigner;
