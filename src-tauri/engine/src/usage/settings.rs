//! The usage settings, declared in one place: name, type, default, validation and help.
//!
//! `settings/` stores them in the saved server settings document and calls [`check`] to
//! validate a change; the usage service reads them as [`UsageSettings`]. When the settings
//! registry lands, these declarations move into it as they are.

use serde_json::Value;

use crate::error::{Error, Result};

/// One declared setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// The name in `PATCH /__api__/porch/server` and `porch settings set NAME=VALUE`.
    pub name: &'static str,
    /// The JSON type it takes.
    pub kind: &'static str,
    /// The default, as `porch settings` shows it.
    pub default: &'static str,
    /// What it does, for people.
    pub help: &'static str,
    /// It applies at once (no restart).
    pub applies_at_once: bool,
}

/// `usage`: record page views and app sessions.
pub const USAGE: Declared = Declared {
    name: "usage",
    kind: "boolean",
    default: "on",
    help: "Record page views and app sessions (no addresses, names or user agents are kept)",
    applies_at_once: true,
};

/// `usage_retention_days`: how long raw events are kept before only per-day totals remain.
pub const RETENTION_DAYS: Declared = Declared {
    name: "usage_retention_days",
    kind: "integer",
    default: "90",
    help: "Days raw usage events are kept; older ones become per-day totals",
    applies_at_once: true,
};

/// Every usage setting.
pub const DECLARED: &[Declared] = &[USAGE, RETENTION_DAYS];

/// The longest retention allowed (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// The usage settings in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageSettings {
    /// Recording on.
    pub on: bool,
    /// Days raw events are kept.
    pub retention_days: u32,
}

impl Default for UsageSettings {
    fn default() -> Self {
        UsageSettings { on: true, retention_days: 90 }
    }
}

impl UsageSettings {
    /// The settings from saved values (`None`: the default).
    pub fn from_saved(on: Option<bool>, retention_days: Option<u32>) -> UsageSettings {
        let d = UsageSettings::default();
        UsageSettings { on: on.unwrap_or(d.on), retention_days: retention_days.unwrap_or(d.retention_days) }
    }
}

/// A checked value of one usage setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// `usage`: `None` is back to the default.
    Usage(Option<bool>),
    /// `usage_retention_days`: `None` is back to the default.
    RetentionDays(Option<u32>),
}

/// Checks a value for the usage setting `name`; `Ok(None)` when `name` is not one of them.
pub fn check(name: &str, value: &Value) -> Result<Option<Checked>> {
    match name {
        "usage" => Ok(Some(Checked::Usage(match value {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            v => return Err(Error::Invalid(format!("usage must be on or off (true or false), not {v}"))),
        }))),
        "usage_retention_days" => Ok(Some(Checked::RetentionDays(match value {
            Value::Null => None,
            v => match v.as_u64() {
                Some(d @ 1..) if d <= u64::from(MAX_RETENTION_DAYS) => Some(d as u32),
                _ => {
                    return Err(Error::Invalid(format!(
                        "usage_retention_days must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, not {v}"
                    )))
                }
            },
        }))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_and_name_the_setting() {
        assert_eq!(check("usage", &json!(false)).expect("ok"), Some(Checked::Usage(Some(false))));
        assert_eq!(check("usage", &Value::Null).expect("ok"), Some(Checked::Usage(None)));
        assert_eq!(check("usage_retention_days", &json!(30)).expect("ok"), Some(Checked::RetentionDays(Some(30))));
        assert_eq!(check("port", &json!(1)).expect("not ours"), None);
        for (name, bad) in [
            ("usage", json!("maybe")),
            ("usage", json!(1)),
            ("usage_retention_days", json!(0)),
            ("usage_retention_days", json!(3651)),
            ("usage_retention_days", json!(1.5)),
            ("usage_retention_days", json!("90")),
        ] {
            let e = check(name, &bad).expect_err(&bad.to_string()).to_string();
            assert!(e.starts_with(name), "{e}");
        }
        assert_eq!(UsageSettings::from_saved(None, Some(7)), UsageSettings { on: true, retention_days: 7 });
    }
}
