//! `porch doctor`: can viewers on the network reach Porch, and if not, why and what to do.
//!
//! Asks the API (`GET /__api__/porch/reach`) like every command: the running server runs
//! the checks where it runs (its port, its addresses, its network name); with no server the
//! checks run in this process on the saved settings (then "the port is taken by another
//! program" is one of them). One check depends on who runs it: reading the firewall needs
//! root. When the server could not read the rules (it runs as a user) this command reads
//! them itself, through the engine's process runner, so `sudo porch doctor` names the rule.
//!
//! `--wait` starts a phone test and waits for another device to open its URL. Exit status:
//! 0 when nothing is wrong (and with `--wait`, another device got through), 1 otherwise.
//! `--json` prints the report (and the phone test's outcome) for machines.

use std::fmt::Write as _;

use anyhow::Context as _;
use clap::Args;
use porch_engine::reach::{Check, PhoneState, PhoneTest, Report, Status};
use serde_json::Value;

use super::client::Porch;

/// The error that makes `porch doctor` exit 1 after printing its report (and nothing more).
#[derive(Debug)]
pub(crate) struct ProblemsFound;

impl std::fmt::Display for ProblemsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("porch doctor found a problem")
    }
}

impl std::error::Error for ProblemsFound {}

/// `porch doctor [--json] [--wait]`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also test from another device: print a one-time URL (valid ten minutes) and wait
    /// until a phone or another computer opens it.
    #[arg(long)]
    wait: bool,
}

impl DoctorArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let value = porch.get("/__api__/porch/reach").await?;
        let mut report: Report = serde_json::from_value(value).context("reading the report")?;
        if porch.is_serving() {
            read_firewall_here(&mut report).await;
        }
        if !self.json {
            print!("{}", human(&report));
        }
        let mut phone: Option<PhoneState> = None;
        let mut phone_error: Option<String> = None;
        if self.wait {
            match porch.post("/__api__/porch/reach/phone", Value::Null).await {
                Ok(v) => {
                    let test: PhoneTest = serde_json::from_value(v).context("reading the phone test")?;
                    phone = Some(wait_for_device(porch, &test, self.json).await?);
                }
                Err(e) => phone_error = Some(e.to_string()),
            }
        }
        if self.json {
            let mut out = serde_json::to_value(&report)?;
            if self.wait {
                out["phone"] = serde_json::to_value(&phone)?;
                out["phone_error"] = serde_json::to_value(&phone_error)?;
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else if let Some(e) = &phone_error {
            println!("\nPhone test: cannot start: {e}");
        }
        let reached = matches!(phone, Some(PhoneState::Reached { .. }));
        if !report.ok || (self.wait && !reached) {
            return Err(ProblemsFound.into());
        }
        Ok(())
    }
}

/// Replaces a firewall check the server could not do (no root) with one done here, when
/// this process can read the rules (run as root).
async fn read_firewall_here(report: &mut Report) {
    let Some(i) = report.checks.iter().position(|c| c.id == "firewall" && c.status == Status::Unknown) else { return };
    let runner = porch_engine::runner::Runner::detached();
    let here = porch_engine::reach::firewall_check(&runner, report.port).await;
    if here.status != Status::Unknown {
        report.checks[i] = here;
        report.ok = !report.checks.iter().any(|c| c.status == Status::Problem);
    }
}

/// Prints the test's URL and polls its state until another device opens it or it expires.
async fn wait_for_device(porch: &Porch, test: &PhoneTest, json: bool) -> anyhow::Result<PhoneState> {
    let mut text = String::new();
    let _ = writeln!(text, "\nTest from your phone: open this on another device on the same network");
    let _ = writeln!(text, "(works once, valid {} minutes):", test.expires_in / 60);
    let _ = writeln!(text, "  {}", test.url);
    for other in test.urls.iter().skip(1) {
        let _ = writeln!(text, "  or {other}");
    }
    let _ = writeln!(text, "Waiting…");
    if json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let mut told_here = false;
    loop {
        let v = porch.get(&format!("/__api__/porch/reach/phone/{}?wait=30&here={told_here}", test.token)).await?;
        let state: PhoneState = serde_json::from_value(v).context("reading the phone test's state")?;
        let line = match &state {
            PhoneState::Waiting { opened_here: true } if !told_here => {
                told_here = true;
                Some("Opened on this computer, which proves nothing about the network: open it on another device.".to_string())
            }
            PhoneState::Waiting { .. } => None,
            PhoneState::Reached { message, .. } => Some(format!("Phone test: {message}: viewers on your network can reach Porch.")),
            PhoneState::Expired => Some("Phone test: no other device opened the URL within ten minutes. If the phone showed an error, see the checks above; on guest Wi-Fi devices often cannot see each other (client isolation).".to_string()),
        };
        if let Some(line) = line {
            if json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
        if !matches!(state, PhoneState::Waiting { .. }) {
            return Ok(state);
        }
    }
}

/// The report in words, one check a paragraph.
fn human(r: &Report) -> String {
    let mut out = String::new();
    let running = if r.serving { "running" } else { "not running" };
    let _ = writeln!(out, "Porch reachability: port {} on {} (Porch is {running})\n", r.port, r.bind);
    for c in &r.checks {
        line(&mut out, c);
        if c.id == "addresses" || (c.id == "bind" && r.addresses.is_empty()) {
            for s in &r.skipped {
                let _ = writeln!(out, "           skipped {} ({}): {}", s.ip, s.interface, s.reason);
            }
        }
    }
    if let Some(why) = &r.phone_blocked {
        let _ = writeln!(out, "\nPhone test unavailable: {why}");
    }
    let _ = writeln!(
        out,
        "\n{}",
        if r.ok {
            "No problem found. If a viewer still cannot connect, try the phone test (porch doctor --wait); on guest Wi-Fi devices often cannot reach each other (client isolation)."
        } else {
            "Found a problem: see the fix under it."
        }
    );
    out
}

fn line(out: &mut String, c: &Check) {
    let mark = match c.status {
        Status::Ok => "ok",
        Status::Info => "info",
        Status::Warning => "warning",
        Status::Unknown => "unknown",
        Status::Problem => "PROBLEM",
    };
    let _ = writeln!(out, "{mark:<9}  {}", c.title);
    if let Some(d) = &c.detail {
        let _ = writeln!(out, "           {d}");
    }
    if let Some(f) = &c.fix {
        let _ = writeln!(out, "           fix: {f}");
    }
}
