//! `porch smtp [show|set NAME=VALUE…]`: the mail server schedules email through
//! (`/__api__/porch/smtp`, the Settings pane's Email section), including the SMTP CA file.
//!
//! `set` changes only the names given: it reads the saved settings, applies the assignments
//! and saves the whole (the server checks it, e.g. that a CA file holds a PEM certificate,
//! and keeps the previous settings when it refuses).
//!
//! SECURITY: the password is never taken from the command line (it would sit in the shell's
//! history and in `ps`): `set --password-stdin` reads it from standard input, and `show`
//! prints only whether one is set.

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::client::{Body, Porch};

#[derive(Debug, Args)]
pub(crate) struct SmtpArgs {
    #[command(subcommand)]
    command: Option<SmtpCommand>,
}

#[derive(Debug, Subcommand)]
enum SmtpCommand {
    /// Show the mail settings (the default when no subcommand is given).
    Show,
    /// Save mail settings, changing only the names given, e.g. `porch smtp set
    /// host=smtp.example.com port=587 security=starttls username=me from=porch@example.com
    /// owner=me@example.com smtp_ca_file=/etc/ssl/company-ca.pem`. `ca_file=` (empty) drops
    /// the CA file.
    Set {
        /// NAME=VALUE pairs: host, port, security (starttls|tls|none), username, from, owner,
        /// and ca_file (also smtp_ca_file): a PEM file of the CA that signs the mail server's
        /// certificate, trusted besides the public roots.
        #[arg(required = true, value_name = "NAME=VALUE")]
        assignments: Vec<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
}

impl SmtpArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let view = match self.command {
            Some(SmtpCommand::Set { assignments, password_stdin }) => {
                let mut body = editable(porch.get("/__api__/porch/smtp").await?);
                for a in &assignments {
                    assign(&mut body, a)?;
                }
                if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
                    let password = line.trim_end_matches(['\r', '\n']);
                    if password.is_empty() {
                        bail!("standard input held no password");
                    }
                    body.insert("password".into(), json!(password));
                }
                porch
                    .call(reqwest::Method::PUT, "/__api__/porch/smtp", Body::Json(Value::Object(body)))
                    .await
                    .context("nothing was saved")?
            }
            None | Some(SmtpCommand::Show) => porch.get("/__api__/porch/smtp").await?,
        };
        print_smtp(&view);
        Ok(())
    }
}

/// The saved settings as a body to send back: without the view-only fields (a missing
/// password keeps the stored one).
fn editable(view: Value) -> Map<String, Value> {
    let mut body = match view {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    body.remove("configured");
    body.remove("password_set");
    body
}

/// Applies one `NAME=VALUE` to the body.
fn assign(body: &mut Map<String, Value>, assignment: &str) -> anyhow::Result<()> {
    let (name, value) = assignment
        .split_once('=')
        .ok_or_else(|| anyhow!("{assignment:?}: expected NAME=VALUE, e.g. host=smtp.example.com"))?;
    let value = value.trim();
    let name = name.trim().replace('-', "_");
    let (key, json) = match name.as_str() {
        k @ ("host" | "from" | "owner" | "security") => (k.to_string(), json!(value)),
        "port" => {
            let port: u16 = value.parse().map_err(|_| anyhow!("port: {value:?} is not a port (1 to 65535)"))?;
            ("port".into(), json!(port))
        }
        "username" | "user" => ("username".into(), if value.is_empty() { Value::Null } else { json!(value) }),
        "ca_file" | "smtp_ca_file" => {
            let path = if value.is_empty() {
                Value::Null
            } else {
                let abs = std::path::absolute(value).with_context(|| format!("ca_file: {value}"))?;
                json!(abs.to_string_lossy())
            };
            ("ca_file".into(), path)
        }
        "password" => bail!("password: not on the command line (shell history, ps); use --password-stdin"),
        other => {
            bail!("{other}: not a mail setting (host, port, security, username, from, owner, ca_file or smtp_ca_file)")
        }
    };
    body.insert(key, json);
    Ok(())
}

/// The settings, one per line.
fn print_smtp(view: &Value) {
    if view["configured"] == false {
        println!("No mail server is set: schedules cannot send email yet.");
        println!("Set one with: porch smtp set host=… port=587 security=starttls from=… owner=…");
        return;
    }
    let text = |k: &str| view[k].as_str().map_or_else(|| "-".to_string(), str::to_string);
    println!("{:<10} {}", "host", text("host"));
    println!("{:<10} {}", "port", view["port"]);
    println!("{:<10} {}", "security", text("security"));
    println!("{:<10} {}", "username", text("username"));
    println!("{:<10} {}", "password", if view["password_set"] == true { "set" } else { "not set" });
    println!("{:<10} {}", "from", text("from"));
    println!("{:<10} {}", "owner", text("owner"));
    let ca = view["ca_file"].as_str().map_or_else(|| "none (public roots only)".to_string(), str::to_string);
    println!("{:<10} {ca}", "ca_file");
}
