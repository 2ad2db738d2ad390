//! The engine's top-level error and its small, closed set of codes.
//!
//! Each module has its own error enum with context; they fold into [`Error`] here. The UI
//! and the API branch on [`ErrorCode`], never on message text. Connect's numeric codes
//! (what real clients read) are derived from the variant in [`Error::connect_code`].

use std::path::PathBuf;

use serde::Serialize;

use crate::bundle::BundleError;

/// The codes a caller may branch on. Add one only when a caller needs it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    /// The named object does not exist.
    NotFound,
    /// The bundle or its manifest cannot be used.
    InvalidManifest,
    /// The request itself is malformed (bad name, bad field).
    InvalidRequest,
    /// The change clashes with what exists (duplicate name, active bundle).
    Conflict,
    /// No valid API key was presented.
    Unauthorized,
    /// The caller may not do this (e.g. publishing from the network).
    Forbidden,
    /// Porch is busy or shutting down; try again.
    Busy,
    /// Something failed inside Porch; details are in the log.
    Internal,
    /// The request was fine but running it failed: a render that failed, an app that would
    /// not start, a task that stopped. The message (and the task's log) says why.
    Failed,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::NotFound,
        ErrorCode::InvalidManifest,
        ErrorCode::InvalidRequest,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::Busy,
        ErrorCode::Internal,
        ErrorCode::Failed,
    ];

    /// The code's name, as it is serialised (and stored with a failed task).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NotFound",
            ErrorCode::InvalidManifest => "InvalidManifest",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::Busy => "Busy",
            ErrorCode::Internal => "Internal",
            ErrorCode::Failed => "Failed",
        }
    }

    /// The code named `s` ([`ErrorCode::as_str`]); `None` for a name this Porch does not know.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Every failure an engine operation can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A content item, bundle or task that does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// What kind of object ("content", "bundle", "task").
        what: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// A request field is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A runtime failure of the operation, not of the request: a render that failed, an app
    /// that would not start, a task that stopped (watchexec's runtime errors; 5xx over HTTP).
    #[error("{0}")]
    Failed(String),
    /// A runtime failure with its cause kept as the source: a blocking step that stopped, an
    /// app version that would not start. The message is whole for the caller (it already
    /// says what the cause said, as [`BundleError`]'s messages do); the source is there for
    /// code that walks causes (the log's chain, the full-disk check).
    #[error("{message}")]
    Runtime {
        /// What failed, with the cause's text.
        message: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The content name is already taken.
    #[error("a content item named {0:?} already exists")]
    DuplicateName(String),
    /// The vanity path is taken or reserved.
    #[error("{0}")]
    VanityConflict(String),
    /// Another clash with what exists; the message names the field.
    #[error("{0}")]
    Conflict(String),
    /// An upload is larger than Porch takes (answered 413); the message says the limit.
    #[error("{0}")]
    TooLarge(String),
    /// Deleting the bundle that is being served.
    #[error("bundle {0} is the active bundle; activate another bundle before deleting it")]
    DeleteActiveBundle(i64),
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The content's runtime environment could not be prepared.
    #[error(transparent)]
    Environment(#[from] crate::environment::EnvError),
    /// A schedule definition was refused (the message names the field at fault).
    #[error(transparent)]
    Schedule(#[from] crate::scheduler::ScheduleError),
    /// Missing or unknown API key.
    #[error("a valid API key is required (Authorization: Key <key>)")]
    Unauthorized,
    /// The operation is not allowed for this caller.
    #[error("{0}")]
    Forbidden(String),
    /// Too many wrong keys from this address.
    #[error("too many wrong API keys from this address; try again in {retry_after} seconds")]
    TooManyAttempts {
        /// Seconds until the next attempt is accepted.
        retry_after: u64,
    },
    /// A promotion to a Connect server stopped (see `promote::PromoteError`, which folds
    /// into this one line and its code: `error` must not import the services above it).
    #[error("{source}")]
    Promotion {
        /// The code the promotion's error maps to.
        code: ErrorCode,
        /// The promotion's own error (a `promote::PromoteError`), kept whole.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The engine is shutting down.
    #[error("Porch is shutting down")]
    ShuttingDown,
    /// The database failed.
    #[error("database error while {about}")]
    Store {
        /// What the engine was doing.
        about: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The migrations could not be applied.
    #[error("cannot migrate the database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file-system operation failed.
    #[error("{about}: {}", path.display())]
    Io {
        /// What the engine was doing.
        about: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for a not-found error.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Error::NotFound { what, id: id.to_string() }
    }

    /// Wraps an I/O error with context.
    pub fn io(about: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { about, path, source }
    }

    /// Wraps the cause of a runtime failure: the message is `"{context}: {cause}"` and the
    /// cause stays as the source (e.g. `.map_err(Error::failed("packing stopped"))` on a
    /// `spawn_blocking` that panicked).
    pub fn failed<E>(context: impl std::fmt::Display) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| Error::Runtime { message: format!("{context}: {source}"), source: Box::new(source) }
    }

    /// Wraps a database error with context; a unique-constraint violation is a conflict.
    pub fn store(about: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Error::Store { about, source }
    }

    /// The code a caller branches on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::Invalid(_) | Error::TooLarge(_) | Error::Schedule(_) => ErrorCode::InvalidRequest,
            Error::Failed(_) | Error::Runtime { .. } => ErrorCode::Failed,
            Error::DuplicateName(_) | Error::VanityConflict(_) | Error::Conflict(_) | Error::DeleteActiveBundle(_) => {
                ErrorCode::Conflict
            }
            Error::Bundle(e) if e.is_internal() => ErrorCode::Internal,
            Error::Bundle(BundleError::Source { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::NotFound
            }
            // A chosen appmode or entry point is the request's fault, not the bundle's.
            Error::Bundle(BundleError::BadOverride { .. }) => ErrorCode::InvalidRequest,
            Error::Bundle(_) => ErrorCode::InvalidManifest,
            Error::Environment(e) if e.is_internal() => ErrorCode::Internal,
            // The installer ran and failed (a crash, a network failure, a package that does not
            // exist or does not build): a runtime failure of the deploy, with its log, not a
            // bad request. What is left is an environment unusable as declared (requirements
            // that cannot be read, a Python or R this machine lacks): the bundle's problem.
            Error::Environment(e) if e.is_runtime() => ErrorCode::Failed,
            Error::Environment(_) => ErrorCode::InvalidManifest,
            Error::Unauthorized => ErrorCode::Unauthorized,
            Error::Forbidden(_) => ErrorCode::Forbidden,
            Error::ShuttingDown | Error::TooManyAttempts { .. } => ErrorCode::Busy,
            Error::Promotion { code, .. } => *code,
            Error::Store { .. } | Error::Migrate(_) | Error::Io { .. } => ErrorCode::Internal,
        }
    }

    /// Posit Connect's numeric error code, as real clients read it.
    pub fn connect_code(&self) -> u32 {
        // A runtime failure is Connect's generic code 1, whatever module it came from (a
        // crashed installer is not an invalid bundle, 38).
        if self.code() == ErrorCode::Failed {
            return 1;
        }
        match self {
            Error::NotFound { .. } => 4,
            Error::Invalid(_) | Error::TooLarge(_) | Error::Schedule(_) => 3,
            Error::Failed(_) | Error::Runtime { .. } => 1,
            Error::DuplicateName(_) => 26,
            Error::VanityConflict(_) | Error::Conflict(_) => 3,
            Error::DeleteActiveBundle(_) => 75,
            Error::Bundle(
                BundleError::TooLarge { .. } | BundleError::TooManyFiles { .. } | BundleError::BadOverride { .. },
            ) => 3,
            Error::Bundle(_) => 38,
            Error::Environment(_) => 38,
            Error::Unauthorized => 30,
            Error::Forbidden(_) => 22,
            Error::ShuttingDown | Error::TooManyAttempts { .. } => 3,
            Error::Promotion { .. } => 3,
            Error::Store { .. } | Error::Migrate(_) | Error::Io { .. } => 1,
        }
    }

    /// Whether the message is safe to show to a caller (internal details stay in the log).
    pub fn is_internal(&self) -> bool {
        self.code() == ErrorCode::Internal
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_connect_numbers() {
        assert_eq!(Error::not_found("content", "x").connect_code(), 4);
        assert_eq!(Error::DuplicateName("a".into()).code(), ErrorCode::Conflict);
        assert_eq!(Error::DuplicateName("a".into()).connect_code(), 26);
        assert_eq!(Error::Unauthorized.connect_code(), 30);
        assert_eq!(Error::DeleteActiveBundle(3).connect_code(), 75);
        let e = Error::Bundle(BundleError::UnsafePath { entry: "../x".into() });
        assert_eq!(e.code(), ErrorCode::InvalidManifest);
        assert_eq!(e.connect_code(), 38);
    }

    #[test]
    fn runtime_failures_are_not_bad_requests() {
        use crate::environment::EnvError;
        let failed = Error::Failed("the render failed (exit status: 1)".into());
        assert_eq!(failed.code(), ErrorCode::Failed);
        assert_eq!(failed.connect_code(), 1);
        assert!(!failed.is_internal(), "the caller sees why it failed");
        let crashed = Error::Environment(EnvError::InstallFailed {
            tool: "uv".into(),
            status: "signal: 9 (SIGKILL)".into(),
            last_lines: vec!["Killed".into()],
        });
        assert_eq!(crashed.code(), ErrorCode::Failed);
        assert_eq!(crashed.connect_code(), 1, "a crashed installer is not an invalid bundle (38)");
        assert!(crashed.to_string().contains("Killed"), "the message carries the log: {crashed}");
        let r_check =
            Error::Environment(EnvError::RCheckFailed { status: "exit status: 1".into(), last_lines: vec![] });
        assert_eq!(r_check.code(), ErrorCode::Failed);
        assert_ne!(Error::Invalid("name: bad".into()).code(), ErrorCode::Failed);
    }

    #[test]
    fn an_environment_unusable_as_declared_is_the_bundles_problem() {
        use crate::environment::EnvError;
        for e in [
            EnvError::RequirementsInvalid { file: "requirements.txt".into(), reason: "includes ../x".into() },
            EnvError::BadPythonVersion { value: "three".into(), from: "manifest.json" },
            EnvError::PythonVersionUnavailable { wanted: "3.99".into(), from: "manifest.json", available: vec![] },
            EnvError::RPackagesMissing { packages: vec!["shiny".into()] },
        ] {
            let e = Error::Environment(e);
            assert_eq!(e.code(), ErrorCode::InvalidManifest, "{e}");
            assert_eq!(e.connect_code(), 38, "{e}");
        }
        let spawn = Error::Environment(EnvError::Spawn {
            program: "uv".into(),
            source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        });
        assert_eq!(spawn.code(), ErrorCode::Internal, "Porch could not run its own tool");
    }

    #[test]
    fn wrapped_causes_stay_sources_and_keep_their_text() {
        use std::error::Error as _;
        let cause = std::io::Error::other("the blocking task panicked");
        let e = Error::failed("packing stopped")(cause);
        assert_eq!(e.to_string(), "packing stopped: the blocking task panicked");
        assert_eq!(e.code(), ErrorCode::Failed);
        assert_eq!(e.connect_code(), 1);
        let source = e.source().expect("the cause is kept");
        assert!(source.downcast_ref::<std::io::Error>().is_some(), "typed, not a string");

        let bad = crate::scheduler::Schedule::from_connect(&serde_json::json!({"type": "nope"}))
            .expect_err("not a schedule type");
        let text = bad.to_string();
        let e = Error::from(bad);
        assert_eq!(e.to_string(), text, "the field-naming message is unchanged");
        assert_eq!(e.code(), ErrorCode::InvalidRequest);
        assert_eq!(e.connect_code(), 3);

        let promo =
            Error::Promotion { code: ErrorCode::Conflict, source: Box::new(std::io::Error::other("name taken")) };
        assert_eq!(promo.to_string(), "name taken");
        assert!(promo.source().is_some());
    }

    #[test]
    fn error_codes_round_trip_through_their_names() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).expect("json"), serde_json::json!(c.as_str()));
        }
        assert_eq!(ErrorCode::parse("SomethingNewer"), None);
    }
}
