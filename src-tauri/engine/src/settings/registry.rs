//! The settings registry: every server setting the publisher can change, declared once.
//!
//! A [`Setting`] says a setting's name, where it is shown, what values it takes (its
//! [`Kind`], which also checks them), its default, when a change applies and one line of
//! help. Everything else reads this list: saving (`PATCH /__api__/porch/server` checks each
//! value with [`Setting::check`]), the server view (`settings.entries`, which the app's
//! Settings pane draws: settings of a section it has no hand-made card for get a generic
//! field), and `porch settings`, which prints every entry.
//!
//! **Adding a setting** is one entry in [`SETTINGS`]; its service reads the value in force
//! with `engine.settings().value(NAME)` (the saved value, else the default).
//!
//! Does not: store anything (`settings/mod.rs` keeps the saved document) or check rules
//! across settings (the runtime defaults' min ≤ max is checked by the apps service's
//! `apply_runtime` when the whole change is saved).
//!
//! Concurrency: a `static` table; nothing here changes at run time.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Where a setting is shown, and how the app groups it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Where Porch listens and who may publish.
    Sharing,
    /// Server-wide runtime defaults of interactive content (stored under `runtime_defaults`).
    Runtime,
    /// The landing page's gallery: its title, intro, and whether Porch takes pictures.
    Gallery,
    /// Whether page views and app sessions are recorded, and for how long.
    Usage,
    /// The name Porch answers to on the network (`<name>.local`) and whether it advertises.
    Network,
    /// Whether Porch keeps the computer awake while it is needed (`keep_awake`).
    Power,
    /// How Porch runs apps (`zygote`: pre-imported Python helpers).
    Apps,
}

/// When a saved change takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    /// As soon as it is saved.
    AtOnce,
    /// When Porch next starts (the listening socket is bound before anything else).
    AtRestart,
}

/// One allowed value of a [`Kind::Choice`], with what it means in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Choice {
    /// The value as saved and sent.
    pub value: &'static str,
    /// What it means, e.g. "only this computer".
    pub label: &'static str,
}

/// What values a setting takes. Checking a value is the kind's job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// `true` or `false` (on/off).
    Switch,
    /// A whole number in `min..=max`.
    Whole {
        /// Smallest allowed value.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        min: i64,
        /// Largest allowed value.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        max: i64,
    },
    /// Any finite number; its range is checked with the settings it goes with.
    Number,
    /// One of a fixed list.
    Choice {
        /// The allowed values.
        choices: &'static [Choice],
    },
    /// Plain text (shown escaped), at most `max_chars` characters.
    Text {
        /// The longest allowed text.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        max_chars: usize,
    },
    /// A name on the network: one DNS label (lowercase letters, digits and hyphens, 1–63
    /// bytes; a trailing `.local` is dropped), see `discovery::name`.
    HostName,
}

/// A setting's value before the publisher changes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fallback {
    /// A switch that starts off or on.
    Switch(bool),
    /// A whole number.
    Whole(i64),
    /// A choice or a text.
    Text(&'static str),
    /// Porch's built-in runtime default of the field of the same name (Connect's value, or
    /// this run's `--app-memory-limit`/`--app-hang-timeout`): known only at run time.
    BuiltinRuntime,
    /// This computer's host name made a valid network name (`discovery::name::computer_name`).
    ComputerName,
}

/// One server setting, declared once (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The name in the API and the saved document, e.g. `allow_remote_publishing`.
    pub name: &'static str,
    /// The name `porch settings` prints and also accepts (`-` for `_`), when it differs.
    pub cli_name: Option<&'static str>,
    /// A short label for the Settings pane.
    pub label: &'static str,
    /// Where it is shown.
    pub section: Section,
    /// What values it takes.
    pub kind: Kind,
    /// Its value until changed.
    pub default: Fallback,
    /// When a change takes effect.
    pub applies: Applies,
    /// One sentence for the Settings pane and `porch settings`.
    pub help: &'static str,
}

const BIND_CHOICES: &[Choice] = &[
    Choice { value: "network", label: "everyone on your network" },
    Choice { value: "local", label: "only this computer" },
];

const THUMBNAIL_CHOICES: &[Choice] = &[
    Choice { value: "auto", label: "a picture after each deploy or render" },
    Choice { value: "manual", label: "only pictures you choose; others get a card" },
];

const KEEP_AWAKE_CHOICES: &[Choice] = &[
    Choice { value: "always", label: "for viewers, renders and schedules (on battery: renders and schedules)" },
    Choice { value: "renders", label: "only for renders and schedules" },
    Choice { value: "off", label: "never" },
];

const fn runtime(name: &'static str, label: &'static str, help: &'static str) -> Setting {
    Setting {
        name,
        cli_name: None,
        label,
        section: Section::Runtime,
        kind: Kind::Number,
        default: Fallback::BuiltinRuntime,
        applies: Applies::AtOnce,
        help,
    }
}

/// Every server setting, in the order `porch settings` prints them.
pub static SETTINGS: &[Setting] = &[
    Setting {
        name: "port",
        cli_name: None,
        label: "Port",
        section: Section::Sharing,
        kind: Kind::Whole { min: 1, max: 65535 },
        default: Fallback::Whole(crate::config::DEFAULT_PORT as i64),
        applies: Applies::AtRestart,
        help: "The port viewers connect to (a --port flag wins for that run).",
    },
    Setting {
        name: "bind",
        cli_name: None,
        label: "Who can connect",
        section: Section::Sharing,
        kind: Kind::Choice { choices: BIND_CHOICES },
        default: Fallback::Text("network"),
        applies: Applies::AtRestart,
        help: "Everyone on your network, or only this computer (a --bind flag wins for that run).",
    },
    Setting {
        name: "allow_remote_publishing",
        cli_name: Some("remote-publishing"),
        label: "Publishing from other computers",
        section: Section::Sharing,
        kind: Kind::Switch,
        default: Fallback::Switch(false),
        applies: Applies::AtOnce,
        help: "Accept deploys with an API key from other computers, not only from this one.",
    },
    runtime("min_processes", "Minimum processes", "Workers kept running with no viewers."),
    runtime("max_processes", "Maximum processes", "The most workers an app runs."),
    runtime("max_conns_per_process", "Connections per process", "Viewers one worker serves."),
    runtime("load_factor", "Load factor", "How full workers get (0 to 1) before another starts."),
    runtime("idle_timeout", "Idle timeout (s)", "Seconds a worker with no viewers stays up."),
    runtime("init_timeout", "Start-up timeout (s)", "Seconds an app may take to start."),
    runtime(
        "connection_timeout",
        "Connection timeout (s)",
        "Seconds of silence before a connection closes (0: never).",
    ),
    runtime("read_timeout", "Read timeout (s)", "Seconds without data before a connection closes (0: never)."),
    Setting {
        name: "gallery_title",
        cli_name: None,
        label: "Title",
        section: Section::Gallery,
        kind: Kind::Text { max_chars: crate::gallery::settings::MAX_TITLE },
        default: Fallback::Text(crate::gallery::settings::DEFAULT_TITLE),
        applies: Applies::AtOnce,
        help: "The landing page's heading (plain text).",
    },
    Setting {
        name: "gallery_intro",
        cli_name: None,
        label: "Introduction",
        section: Section::Gallery,
        kind: Kind::Text { max_chars: crate::gallery::settings::MAX_INTRO },
        default: Fallback::Text(crate::gallery::settings::DEFAULT_INTRO),
        applies: Applies::AtOnce,
        help: "A few lines under the heading (plain text; line breaks are kept).",
    },
    Setting {
        name: "thumbnails",
        cli_name: None,
        label: "Pictures",
        section: Section::Gallery,
        kind: Kind::Choice { choices: THUMBNAIL_CHOICES },
        default: Fallback::Text("auto"),
        applies: Applies::AtOnce,
        help: "Whether Porch takes a screenshot of each item for the gallery (where Chromium is installed).",
    },
    Setting {
        name: "usage",
        cli_name: None,
        label: "Record usage",
        section: Section::Usage,
        kind: Kind::Switch,
        default: Fallback::Switch(true),
        applies: Applies::AtOnce,
        help: "Count page views and app sessions per item (no addresses, names or user agents are kept).",
    },
    Setting {
        name: "usage_retention_days",
        cli_name: None,
        label: "Keep usage events (days)",
        section: Section::Usage,
        kind: Kind::Whole { min: 1, max: crate::usage::settings::MAX_RETENTION_DAYS as i64 },
        default: Fallback::Whole(crate::usage::settings::DEFAULT_RETENTION_DAYS as i64),
        applies: Applies::AtOnce,
        help: "Days each view and session is kept; older ones remain only as per-day totals.",
    },
    Setting {
        name: "hostname",
        cli_name: None,
        label: "Name on the network",
        section: Section::Network,
        kind: Kind::HostName,
        default: Fallback::ComputerName,
        applies: Applies::AtOnce,
        help: "Viewers can open http://NAME.local:PORT/ (letters, digits and hyphens; another computer with the name gets NAME-2).",
    },
    Setting {
        name: "discovery",
        cli_name: None,
        label: "Announce on the network",
        section: Section::Network,
        kind: Kind::Switch,
        default: Fallback::Switch(true),
        applies: Applies::AtOnce,
        help: "Answer for NAME.local and list \"Porch on NAME\" in other computers' service browsers (mDNS); never when only this computer can connect.",
    },
    Setting {
        name: crate::awake::SETTING,
        cli_name: Some("keep-awake"),
        label: "Keep this computer awake",
        section: Section::Power,
        kind: Kind::Choice { choices: KEEP_AWAKE_CHOICES },
        default: Fallback::Text("always"),
        applies: Applies::AtOnce,
        help: "Stop the computer sleeping while viewers use an app, a document renders or a scheduled render is due (systemd-logind; closing a laptop's lid still suspends it).",
    },
    Setting {
        name: crate::zygote::SETTING,
        cli_name: None,
        label: "Pre-start Python apps",
        section: Section::Apps,
        kind: Kind::Switch,
        default: Fallback::Switch(true),
        applies: Applies::AtOnce,
        help: "Keep one Python process per environment with its framework imported, so Streamlit, FastAPI, Dash and Shiny apps start in a fraction of a second (it uses memory while it waits).",
    },
];

/// The setting called `name` (its API name, or its CLI name with `-` or `_`).
pub fn find(name: &str) -> Option<&'static Setting> {
    let wanted = name.trim().replace('-', "_");
    SETTINGS.iter().find(|s| s.name == wanted || s.cli_name.is_some_and(|c| c.replace('-', "_") == wanted))
}

/// The settings of one section.
pub fn in_section(section: Section) -> impl Iterator<Item = &'static Setting> {
    SETTINGS.iter().filter(move |s| s.section == section)
}

/// The names of every setting, for messages.
pub fn names() -> String {
    SETTINGS.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
}

impl Setting {
    /// The value as saved, or a clear error naming the setting and what it takes.
    pub fn check(&self, value: &Value) -> Result<Value> {
        let name = self.name;
        match self.kind {
            Kind::Switch => match value {
                Value::Bool(_) => Ok(value.clone()),
                v => Err(Error::Invalid(format!("{name} must be on or off (true or false), not {v}"))),
            },
            Kind::Whole { min, max } => match value.as_i64() {
                Some(n) if (min..=max).contains(&n) => Ok(Value::from(n)),
                _ => Err(Error::Invalid(format!("{name} must be a whole number from {min} to {max}, not {value}"))),
            },
            Kind::Number => match value.as_f64() {
                Some(n) if n.is_finite() => Ok(value.clone()),
                _ => Err(Error::Invalid(format!("{name} must be a number (or null for Porch's default), not {value}"))),
            },
            Kind::Choice { choices } => match value.as_str() {
                Some(s) if choices.iter().any(|c| c.value == s) => Ok(value.clone()),
                _ => {
                    let words: Vec<String> = choices.iter().map(|c| format!("\"{}\" ({})", c.value, c.label)).collect();
                    Err(Error::Invalid(format!("{name} must be {}, not {value}", words.join(" or "))))
                }
            },
            Kind::Text { max_chars } => {
                let text = match value {
                    Value::String(s) => s.trim().to_string(),
                    // `porch settings set name=2026` reads the word as a number: keep it as text.
                    Value::Number(n) => n.to_string(),
                    v => return Err(Error::Invalid(format!("{name} must be text, not {v}"))),
                };
                if text.chars().count() > max_chars || text.chars().any(|c| c.is_control() && c != '\n') {
                    return Err(Error::Invalid(format!(
                        "{name} must be plain text of at most {max_chars} characters (line breaks allowed, no other control characters)"
                    )));
                }
                Ok(Value::String(text))
            }
            Kind::HostName => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    v => return Err(Error::Invalid(format!("{name} must be text, not {v}"))),
                };
                crate::discovery::name::check(&text)
                    .map(Value::String)
                    .map_err(|e| Error::Invalid(format!("{name}: {e}")))
            }
        }
    }

    /// The default as a JSON value; `builtin_runtime` gives the built-in runtime defaults
    /// by field name (in the content API's units).
    pub fn default_value(&self, builtin_runtime: &Value) -> Value {
        match self.default {
            Fallback::Switch(b) => Value::Bool(b),
            Fallback::Whole(n) => Value::from(n),
            Fallback::Text(s) => Value::from(s),
            Fallback::BuiltinRuntime => builtin_runtime.get(self.name).cloned().unwrap_or(Value::Null),
            Fallback::ComputerName => Value::from(crate::discovery::name::computer_name()),
        }
    }

    /// How `porch settings` shows a value: on/off for switches, a choice with its meaning.
    pub fn show(&self, value: &Value) -> String {
        match (self.kind, value) {
            (Kind::Switch, Value::Bool(b)) => (if *b { "on" } else { "off" }).to_string(),
            (Kind::Choice { choices }, Value::String(s)) => match choices.iter().find(|c| c.value == s) {
                Some(c) => format!("{} ({})", c.value, c.label),
                None => s.clone(),
            },
            (_, Value::String(s)) => s.clone(),
            (_, v) => v.to_string(),
        }
    }
}

/// One setting as the server view shows it: its declaration, its value and its default.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SettingEntry {
    /// The API name.
    pub name: String,
    /// The name `porch settings` uses.
    pub cli_name: String,
    /// A short label.
    pub label: String,
    /// Where it is shown.
    pub section: Section,
    /// What values it takes.
    pub kind: Kind,
    /// Its value until changed.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub default: Value,
    /// Its saved value, or the default.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub value: Value,
    /// True when nothing was saved for it.
    pub is_default: bool,
    /// When a change takes effect.
    pub applies: Applies,
    /// One sentence of help.
    pub help: String,
}

impl SettingEntry {
    /// The entry of `setting` with its saved value, if any.
    pub fn of(setting: &Setting, saved: Option<&Value>, builtin_runtime: &Value) -> SettingEntry {
        let default = setting.default_value(builtin_runtime);
        SettingEntry {
            name: setting.name.into(),
            cli_name: setting.cli_name.unwrap_or(setting.name).into(),
            label: setting.label.into(),
            section: setting.section,
            kind: setting.kind,
            value: saved.cloned().unwrap_or_else(|| default.clone()),
            default,
            is_default: saved.is_none(),
            applies: setting.applies,
            help: setting.help.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn names_are_unique_and_found_by_cli_name() {
        let mut names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SETTINGS.len(), "two settings share a name");
        assert_eq!(find("remote-publishing").map(|s| s.name), Some("allow_remote_publishing"));
        assert_eq!(find("max-processes").map(|s| s.name), Some("max_processes"));
        assert!(find("colour").is_none());
    }

    #[test]
    fn every_default_passes_its_own_check() {
        for s in SETTINGS.iter().filter(|s| s.default != Fallback::BuiltinRuntime) {
            let d = s.default_value(&Value::Null);
            assert!(s.check(&d).is_ok(), "{}: default {d} is refused", s.name);
        }
    }

    #[test]
    fn kinds_refuse_wrong_values_with_the_setting_named() {
        let port = find("port").expect("port");
        for bad in [json!(0), json!(70000), json!(1.5), json!("80"), json!(-1)] {
            let e = port.check(&bad).expect_err("refused").to_string();
            assert!(e.contains("port") && e.contains("1 to 65535"), "{bad}: {e}");
        }
        assert_eq!(port.check(&json!(4000)).expect("ok"), json!(4000));
        let bind = find("bind").expect("bind");
        let e = bind.check(&json!("everywhere")).expect_err("refused").to_string();
        assert!(e.contains("\"network\"") && e.contains("\"local\""), "{e}");
        let remote = find("allow_remote_publishing").expect("switch");
        assert!(remote.check(&json!("yes")).is_err());
        assert!(find("load_factor").expect("number").check(&json!("x")).is_err());
        let text = Setting { kind: Kind::Text { max_chars: 3 }, ..*port };
        assert!(text.check(&json!("abc")).is_ok());
        assert!(text.check(&json!("abcd")).is_err());
    }

    #[test]
    fn gallery_texts_are_trimmed_plain_text_within_their_limit() {
        let title = find("gallery_title").expect("title");
        assert_eq!(title.check(&json!(" Team reports ")).expect("ok"), json!("Team reports"));
        assert_eq!(title.check(&json!(2026)).expect("a number is text"), json!("2026"));
        let intro = find("gallery_intro").expect("intro");
        assert_eq!(intro.check(&json!("<b>hi</b>\nthere")).expect("ok"), json!("<b>hi</b>\nthere"));
        for (s, bad) in [
            (title, json!("x".repeat(crate::gallery::settings::MAX_TITLE + 1))),
            (title, json!(true)),
            (intro, json!("a\u{7}b")),
            (find("thumbnails").expect("thumbnails"), json!("sometimes")),
        ] {
            let e = s.check(&bad).expect_err("refused").to_string();
            assert!(e.contains(s.name), "{e}");
        }
    }

    #[test]
    fn the_network_name_is_one_lowercase_label() {
        let host = find("hostname").expect("hostname");
        assert_eq!(host.check(&json!("My-Laptop.local")).expect("ok"), json!("my-laptop"));
        assert_eq!(host.check(&json!(2026)).expect("a number is a name"), json!("2026"));
        for (bad, says) in [
            (json!("my laptop"), "Try \"my-laptop\""),
            (json!("büro"), "Try \"buro\""),
            (json!(""), "it is empty"),
            (json!(true), "must be text"),
        ] {
            let e = host.check(&bad).expect_err("refused").to_string();
            assert!(e.starts_with("hostname") && e.contains(says), "{bad}: {e}");
        }
        assert!(crate::discovery::name::is_valid(host.default_value(&Value::Null).as_str().expect("text")));
        let discovery = find("discovery").expect("discovery");
        assert_eq!(discovery.default_value(&Value::Null), json!(true));
        assert!(discovery.check(&json!("sometimes")).is_err());
    }

    #[test]
    fn values_are_shown_in_words() {
        assert_eq!(find("allow_remote_publishing").expect("s").show(&json!(true)), "on");
        assert_eq!(find("bind").expect("s").show(&json!("local")), "local (only this computer)");
        assert_eq!(find("port").expect("s").show(&json!(3939)), "3939");
    }
}
