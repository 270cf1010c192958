//! Filled in by this session's work on issue 21.
