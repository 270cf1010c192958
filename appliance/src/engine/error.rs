//! The engine's errors: why a request was refused or failed ([`EngineError`], which the API
//! maps to status codes), and the one-line form of an error chain that tasks store.

use pipeline::index::IndexError;

use crate::db::DbError;

/// Why the engine refused or failed a request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EngineError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("camera unreachable: {0}")]
    Camera(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("embedding index: {0}")]
    Index(#[from] IndexError),
    #[error("starting the {what} threads: {source}")]
    Threads {
        what: &'static str,
        source: std::io::Error,
    },
}

impl EngineError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> EngineError {
        EngineError::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

/// An error and its causes on one line, each cause once (many errors repeat their source
/// in their own message).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}
