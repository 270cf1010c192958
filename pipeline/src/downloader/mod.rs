//! The downloader: pulls recordings from many cameras at once on bounded memory.
//!
//! So far: the [`scheduler`], which decides which download may use the network next.

pub mod scheduler;
