//! Runtime settings of interactive content: Connect's fields, the settings in force (an
//! item's values over the server defaults), and checking a change. Pure functions.

use crate::error::{Error, Result};
use crate::store::RuntimeRow;
use crate::supervisor::RuntimeSettings;

/// The runtime fields Connect exposes on a content item.
pub const RUNTIME_FIELDS: &[&str] = &[
    "min_processes",
    "max_processes",
    "max_conns_per_process",
    "load_factor",
    "idle_timeout",
    "init_timeout",
    "connection_timeout",
    "read_timeout",
    "memory_limit",
    "max_bundle_bytes",
    "render_timeout",
];

/// The most workers one app may run (Connect's `Scheduler.MaxProcessesLimit`, fixed here):
/// every worker runs on this one computer, and a typo must not start a thousand.
pub(crate) const MAX_PROCESSES_LIMIT: usize = 64;
/// The most workers one app may keep running with no viewer (Connect's
/// `Scheduler.MinProcessesLimit`).
pub(crate) const MIN_PROCESSES_LIMIT: usize = 16;
/// The largest count or number of seconds a runtime field takes.
const INT_CEILING: f64 = 1e9;

/// A change to one runtime field: `None` returns it to the server default.
pub type RuntimeChange = (String, Option<f64>);

/// The settings in force: the item's values over the server defaults.
pub fn effective(row: &RuntimeRow, d: &RuntimeSettings) -> RuntimeSettings {
    use std::time::Duration;
    let count = |v: Option<i64>, dflt: usize| v.map(|v| v.max(0) as usize).unwrap_or(dflt);
    // Rows saved before the limits existed are held to them as well.
    let (min_processes, max_processes) = (
        count(row.min_processes, d.min_processes).min(MIN_PROCESSES_LIMIT),
        count(row.max_processes, d.max_processes).min(MAX_PROCESSES_LIMIT),
    );
    let secs = |v: Option<i64>, dflt: Duration| v.map(|v| Duration::from_secs(v.max(0) as u64)).unwrap_or(dflt);
    RuntimeSettings {
        min_processes,
        max_processes,
        max_conns_per_process: count(row.max_conns_per_process, d.max_conns_per_process),
        load_factor: row.load_factor.unwrap_or(d.load_factor),
        idle_timeout: secs(row.idle_timeout, d.idle_timeout),
        init_timeout: secs(row.init_timeout, d.init_timeout),
        connection_timeout: secs(row.connection_timeout, d.connection_timeout),
        read_timeout: secs(row.read_timeout, d.read_timeout),
        memory_limit: row.memory_limit.map(|v| v.max(0) as u64).unwrap_or(d.memory_limit),
        hang_timeout: d.hang_timeout,
    }
}

/// Applies changes to a row and checks the result.
pub fn apply_runtime(row: &RuntimeRow, changes: &[RuntimeChange], d: &RuntimeSettings) -> Result<RuntimeRow> {
    let mut r = row.clone();
    for (field, value) in changes {
        let int = |v: &Option<f64>| -> Result<Option<i64>> {
            match v {
                None => Ok(None),
                Some(x) if x.fract() == 0.0 && *x >= 0.0 && *x <= INT_CEILING => Ok(Some(*x as i64)),
                Some(x) => {
                    Err(Error::Invalid(format!("{field} must be a whole number from 0 to {INT_CEILING}, not {x}")))
                }
            }
        };
        let at_most = |v: Option<i64>, limit: usize, why: &str| -> Result<Option<i64>> {
            match v {
                Some(n) if n as u64 > limit as u64 => {
                    Err(Error::Invalid(format!("{field} must be at most {limit} ({why}), not {n}")))
                }
                v => Ok(v),
            }
        };
        match field.as_str() {
            "min_processes" => {
                r.min_processes = at_most(int(value)?, MIN_PROCESSES_LIMIT, "workers kept running on this computer")?
            }
            "max_processes" => {
                r.max_processes = at_most(int(value)?, MAX_PROCESSES_LIMIT, "every worker runs on this computer")?
            }
            "max_conns_per_process" => r.max_conns_per_process = int(value)?,
            "idle_timeout" => r.idle_timeout = int(value)?,
            "init_timeout" => r.init_timeout = int(value)?,
            "connection_timeout" => r.connection_timeout = int(value)?,
            "read_timeout" => r.read_timeout = int(value)?,
            "render_timeout" => {
                r.render_timeout = if value.is_some_and(|x| x < 1.0) { Some(0) } else { int(value)? };
                if r.render_timeout == Some(0) {
                    return Err(Error::Invalid(
                        "render_timeout must be at least 1 second (null for the server default)".into(),
                    ));
                }
            }
            "max_bundle_bytes" => {
                r.max_bundle_bytes = match value {
                    None => None,
                    Some(x) if x.fract() == 0.0 && *x >= 1.0 && *x <= 1e15 => Some(*x as i64),
                    Some(x) => {
                        return Err(Error::Invalid(format!(
                            "max_bundle_bytes must be a whole number of bytes of at least 1, not {x}"
                        )))
                    }
                }
            }
            // Bytes, so past `int`'s ceiling; 0 turns the limit off for this item.
            "memory_limit" => {
                r.memory_limit = match value {
                    None => None,
                    Some(x) if x.fract() == 0.0 && *x >= 0.0 && *x <= 1e15 => Some(*x as i64),
                    Some(x) => {
                        return Err(Error::Invalid(format!(
                            "memory_limit must be a whole number of bytes (0 for none), not {x}"
                        )))
                    }
                }
            }
            "load_factor" => {
                if let Some(x) = value {
                    if !(0.0..=1.0).contains(x) {
                        return Err(Error::Invalid(format!("load_factor must be between 0 and 1, not {x}")));
                    }
                }
                r.load_factor = *value;
            }
            other => return Err(Error::Invalid(format!("unknown runtime setting {other:?}"))),
        }
    }
    let e = effective(&r, d);
    if e.max_processes < 1 {
        return Err(Error::Invalid("max_processes must be at least 1".into()));
    }
    if e.max_conns_per_process < 1 {
        return Err(Error::Invalid("max_conns_per_process must be at least 1".into()));
    }
    if e.min_processes > e.max_processes {
        return Err(Error::Invalid(format!(
            "min_processes ({}) must not exceed max_processes ({})",
            e.min_processes, e.max_processes
        )));
    }
    if e.init_timeout.is_zero() {
        return Err(Error::Invalid("init_timeout must be at least 1 second".into()));
    }
    Ok(r)
}

/// Checks an environment variable name.
pub(crate) fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_validation() {
        let d = RuntimeSettings::default();
        let row = RuntimeRow::default();
        let ok = apply_runtime(&row, &[("min_processes".into(), Some(2.0)), ("max_processes".into(), Some(4.0))], &d)
            .expect("ok");
        assert_eq!((ok.min_processes, ok.max_processes), (Some(2), Some(4)));
        assert!(apply_runtime(&row, &[("min_processes".into(), Some(5.0))], &d).is_err(), "min above the default max");
        assert!(apply_runtime(&row, &[("load_factor".into(), Some(1.5))], &d).is_err());
        assert!(apply_runtime(&row, &[("max_processes".into(), Some(0.0))], &d).is_err());
        assert!(apply_runtime(&row, &[("idle_timeout".into(), Some(-1.0))], &d).is_err());
        for below in [0.0, -5.0, 0.5] {
            let e = apply_runtime(&row, &[("render_timeout".into(), Some(below))], &d).expect_err("below 1 s");
            assert!(e.to_string().contains("at least 1 second"), "{below}: {e}");
        }
        assert!(apply_runtime(&row, &[("bogus".into(), Some(1.0))], &d).is_err());
        // One computer runs every worker: the counts have ceilings.
        let big = |field: &str, n: f64| apply_runtime(&row, &[(field.into(), Some(n))], &d);
        let too_many = big("max_processes", 65.0).expect_err("over the limit").to_string();
        assert!(too_many.contains("at most 64"), "{too_many}");
        assert!(big("max_processes", 64.0).is_ok());
        let many = [("max_processes".into(), Some(64.0)), ("min_processes".into(), Some(17.0))];
        assert!(apply_runtime(&row, &many, &d).expect_err("min over its limit").to_string().contains("at most 16"));
        let huge = big("idle_timeout", 1e10).expect_err("too large").to_string();
        assert!(huge.contains("from 0 to 1000000000"), "{huge}");
        let old = RuntimeRow { min_processes: Some(1000), max_processes: Some(100_000), ..RuntimeRow::default() };
        let held = effective(&old, &d);
        assert_eq!((held.min_processes, held.max_processes), (16, 64), "rows saved before the limits");
        let back = apply_runtime(&ok, &[("min_processes".into(), None)], &d).expect("ok");
        assert_eq!(back.min_processes, None);
        assert_eq!(effective(&back, &d).min_processes, 0);
    }

    #[test]
    fn env_names() {
        assert!(valid_env_name("API_KEY_2"));
        assert!(valid_env_name("_x"));
        assert!(!valid_env_name("2X"));
        assert!(!valid_env_name("A-B"));
        assert!(!valid_env_name(""));
    }
}
