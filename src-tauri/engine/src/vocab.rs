//! The engine's vocabulary: the words Porch stores in its database and sends on the wire
//! (app modes, viewer access, bundle state, render status and trigger, link status), as
//! enums.
//!
//! Each word list is closed for Porch's own decisions but open for reading: every enum has
//! an `Other(String)` variant that keeps a word this Porch does not know, written by a newer
//! Porch or a new Connect app mode, so such a row still loads (and is written back as it
//! was) instead of breaking the library. Code that must decide something about an `Other`
//! word takes the most careful reading (an unknown viewer access is private; an unknown app
//! mode runs nothing).
//!
//! On the wire and in SQLite each value is its word (serde, `sqlx`), and ts-rs exports each
//! enum as the union of its words plus `string`.

use std::fmt;

/// Declares one word list: the enum, its words, `Other(String)`, and its serde, sqlx and
/// ts-rs forms.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
            /// A word this Porch does not know, kept as it was read.
            #[serde(untagged)]
            Other(String),
        }

        impl $name {
            /// Every word this Porch knows, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// Reads a stored or received word; an unknown word is kept as [`Self::Other`].
            pub fn parse(word: &str) -> Self {
                match word {
                    $($word => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                }
            }

            /// The word as stored and sent.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $word,)+
                    Self::Other(word) => word,
                }
            }

            /// Whether this Porch knows the word.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(word: &str) -> Self {
                Self::parse(word)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl sqlx::Type<sqlx::Sqlite> for $name {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <str as sqlx::Type<sqlx::Sqlite>>::type_info()
            }

            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Sqlite as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, sqlx::Sqlite>>::encode(self.as_str().to_owned(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for $name {
            fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let word = <&str as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value)?;
                Ok(Self::parse(word))
            }
        }
    };
}

vocabulary! {
    /// Connect's appmode: what kind of content an item is and how it runs.
    AppMode {
        /// Connect's `unknown`: an item with no bundle yet.
        Unset = "unknown",
        /// Shiny for R.
        Shiny = "shiny",
        /// R Markdown with Shiny runtime.
        RmdShiny = "rmd-shiny",
        /// R Markdown, rendered.
        RmdStatic = "rmd-static",
        /// Files served as they are.
        Static = "static",
        /// Plumber (R API).
        Api = "api",
        /// A TensorFlow model (accepted, not run).
        TensorflowSavedModel = "tensorflow-saved-model",
        /// A Jupyter notebook, rendered.
        JupyterStatic = "jupyter-static",
        /// A WSGI app (Flask).
        PythonApi = "python-api",
        /// Dash.
        PythonDash = "python-dash",
        /// Streamlit.
        PythonStreamlit = "python-streamlit",
        /// Bokeh server.
        PythonBokeh = "python-bokeh",
        /// An ASGI app (FastAPI).
        PythonFastapi = "python-fastapi",
        /// Quarto with Shiny.
        QuartoShiny = "quarto-shiny",
        /// Quarto, rendered.
        QuartoStatic = "quarto-static",
        /// Shiny for Python.
        PythonShiny = "python-shiny",
        /// Voilà.
        JupyterVoila = "jupyter-voila",
        /// Gradio.
        PythonGradio = "python-gradio",
        /// Panel.
        PythonPanel = "python-panel",
        /// Node.js (accepted in manifests, not run).
        Nodejs = "nodejs",
    }
}

vocabulary! {
    /// Who may view an item (the `viewer_access` column).
    ViewerAccess {
        /// Anyone who can reach Porch's port.
        Network = "network",
        /// Loopback clients only.
        Local = "local",
        /// Holders of the secret link (its cookie).
        Link = "link",
    }
}

vocabulary! {
    /// Where a render stands.
    RenderStatus {
        /// Still running.
        Running = "running",
        /// Finished with output.
        Success = "success",
        /// Finished without usable output; the previous good render stays current.
        Failed = "failed",
    }
}

vocabulary! {
    /// What started a render.
    Trigger {
        /// A deploy of a new bundle.
        Deploy = "deploy",
        /// The publisher (app, CLI or API).
        Manual = "manual",
        /// A schedule.
        Schedule = "schedule",
        /// A change in a linked folder.
        Watch = "watch",
    }
}

vocabulary! {
    /// Where a bundle of an item stands.
    BundleState {
        /// Stored, never deployed.
        Uploaded = "uploaded",
        /// What viewers are served.
        Active = "active",
        /// Deployed before, or deployed as a draft; not served.
        Inactive = "inactive",
    }
}

vocabulary! {
    /// Where a linked folder stands.
    LinkStatus {
        /// Changes are watched and redeployed.
        Watching = "watching",
        /// The folder is gone or unreadable; see the link's error.
        Broken = "broken",
        /// A redeploy is running.
        Redeploying = "redeploying",
    }
}

vocabulary! {
    /// How a finished operation ended (a linked folder's last redeploy).
    Outcome {
        /// It worked.
        Success = "success",
        /// It failed; the error says why.
        Failed = "failed",
    }
}

impl ViewerAccess {
    /// Whether anyone on the network may view without a key or link. An unknown word is
    /// not: it is read as the most private access (a secret link that nobody holds).
    pub fn is_public(&self) -> bool {
        matches!(self, ViewerAccess::Network)
    }

    /// Whether only holders of the secret link may view: `link`, and any unknown word.
    pub fn needs_link(&self) -> bool {
        matches!(self, ViewerAccess::Link | ViewerAccess::Other(_))
    }
}

impl RenderStatus {
    /// Whether the render has ended (an unknown status counts as ended: Porch is not running it).
    pub fn is_finished(&self) -> bool {
        !matches!(self, RenderStatus::Running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_word_reads_back_as_itself() {
        for word in AppMode::WORDS {
            let mode = AppMode::parse(word);
            assert!(mode.is_known(), "{word}");
            assert_eq!(mode.as_str(), *word);
        }
        for word in RenderStatus::WORDS {
            assert_eq!(RenderStatus::parse(word).to_string(), *word);
        }
    }

    #[test]
    fn an_unknown_word_is_kept_and_sent_back_unchanged() {
        let mode = AppMode::parse("python-marimo");
        assert_eq!(mode, AppMode::Other("python-marimo".into()));
        assert_eq!(serde_json::to_string(&mode).expect("json"), r#""python-marimo""#);
        let read: AppMode = serde_json::from_str(r#""python-marimo""#).expect("json");
        assert_eq!(read, mode);
        let known: AppMode = serde_json::from_str(r#""python-dash""#).expect("json");
        assert_eq!(known, AppMode::PythonDash);
        assert_eq!(serde_json::to_string(&Trigger::Schedule).expect("json"), r#""schedule""#);
    }

    #[test]
    fn an_unknown_viewer_access_is_the_most_private() {
        let access = ViewerAccess::parse("groups");
        assert!(!access.is_public());
        assert!(access.needs_link());
        assert!(ViewerAccess::Network.is_public());
        assert!(!ViewerAccess::Local.needs_link());
    }

    #[tokio::test]
    async fn words_round_trip_through_sqlite_and_unknown_rows_load() {
        use sqlx::sqlite::SqlitePoolOptions;
        let pool = SqlitePoolOptions::new().connect("sqlite::memory:").await.expect("pool");
        sqlx::query("CREATE TABLE t (mode TEXT NOT NULL)").execute(&pool).await.expect("create");
        sqlx::query("INSERT INTO t VALUES (?), ('a-mode-from-the-future')")
            .bind(AppMode::QuartoStatic)
            .execute(&pool)
            .await
            .expect("insert");
        let modes: Vec<AppMode> =
            sqlx::query_scalar("SELECT mode FROM t ORDER BY rowid").fetch_all(&pool).await.expect("select");
        assert_eq!(modes, vec![AppMode::QuartoStatic, AppMode::Other("a-mode-from-the-future".into())]);
    }
}
