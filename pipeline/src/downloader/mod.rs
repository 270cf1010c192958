//! The downloader: pulls recordings from many cameras at once on bounded memory.
//!
//! So far: the [`scheduler`], which decides which download may use the network next, and
//! the [`pool`] of fixed-size chunks every downloaded byte lives in.

pub mod fetch;
pub mod pool;
pub mod scheduler;
