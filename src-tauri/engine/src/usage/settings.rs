//! The usage settings as the usage service reads them: `usage` (record or not) and
//! `usage_retention_days`.
//!
//! They are declared, checked and saved like every other setting, in the settings registry
//! (`settings/registry.rs`, section Usage, using the limits below); `settings/` pushes the
//! values in force here with `Usage::configure` whenever they change.

/// The longest retention allowed (ten years).
pub const MAX_RETENTION_DAYS: u32 = 3650;

/// Days raw events are kept unless the publisher says otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

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
        UsageSettings { on: true, retention_days: DEFAULT_RETENTION_DAYS }
    }
}

impl UsageSettings {
    /// The settings from saved values (`None`: the default).
    pub fn from_saved(on: Option<bool>, retention_days: Option<u32>) -> UsageSettings {
        let d = UsageSettings::default();
        UsageSettings { on: on.unwrap_or(d.on), retention_days: retention_days.unwrap_or(d.retention_days) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsaved_values_are_the_defaults() {
        assert_eq!(UsageSettings::from_saved(None, Some(7)), UsageSettings { on: true, retention_days: 7 });
        assert_eq!(UsageSettings::from_saved(Some(false), None), UsageSettings { on: false, retention_days: 90 });
    }
}
