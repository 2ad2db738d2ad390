//! Email after a scheduled render, over the publisher's SMTP server.
//!
//! The publisher may name a CA file (`ca_file`; "the SMTP CA file", `smtp_ca_file` in the
//! issue and accepted as an alias): PEM certificates trusted for this mail server in addition
//! to the public roots, for a company server whose certificate a private CA signs. Porch
//! stores the path, not the certificates, and reads the file at each send, so a CA the
//! company renews in place is picked up without saving again; the file is checked when the
//! settings are saved (it must exist and hold at least one parsable PEM certificate) and
//! again, with a clear message, when it is used.
//!
//! Does not: send anything but the mail after a scheduled render, or keep a connection open.
//! Concurrency: each send builds its own transport; the settings are one row in the store.
//!
//! SECURITY: the SMTP password is stored in Porch's database (the data directory is the
//! publisher's own) but never logged and never returned by the API, which reports only
//! whether one is set. A mail failure is recorded on the render and in its log; it never
//! fails the render.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Renders;
use crate::error::{Error, Result};
use crate::store::{ContentRow, ScheduleRow};
use crate::tasks::TaskLog;

/// How the connection to the SMTP server is protected.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the start (port 465).
    Tls,
    /// No encryption (a server on this machine or in a trusted network).
    None,
}

/// The publisher's SMTP settings.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SmtpSettings {
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// Login user, if the server needs one.
    #[serde(default)]
    pub username: Option<String>,
    /// Login password (never returned by the API).
    #[serde(default)]
    pub password: Option<String>,
    /// The sender address.
    pub from: String,
    /// Where failure reports go (the publisher).
    pub owner: String,
    /// An absolute path to a PEM file of CA certificates trusted for this server in addition
    /// to the public roots (STARTTLS and TLS only). Also accepted as `smtp_ca_file`.
    #[serde(default, alias = "smtp_ca_file", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "string"))]
    pub ca_file: Option<PathBuf>,
}

/// The SMTP settings as `GET /__api__/porch/smtp` shows them: without the password, or
/// `{"configured": false}` when none are saved.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum SmtpView {
    /// Saved settings.
    Configured(SmtpShown),
    /// Nothing saved yet.
    NotConfigured {
        /// Always `false`.
        #[cfg_attr(feature = "ts", ts(type = "false"))]
        configured: bool,
    },
}

/// Saved SMTP settings with the password replaced by whether one is set.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SmtpShown {
    /// Server host name.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub security: Security,
    /// Login user, if the server needs one.
    pub username: Option<String>,
    /// The sender address.
    pub from: String,
    /// Where failure reports go (the publisher).
    pub owner: String,
    /// The extra CA file, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "string"))]
    pub ca_file: Option<PathBuf>,
    /// Whether a password is saved (it is never shown).
    pub password_set: bool,
}

/// Reads a CA file and checks it holds at least one PEM certificate that parses as a trust
/// anchor. The message names the path and the problem.
pub fn load_ca_file(path: &Path) -> std::result::Result<Certificate, String> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!("{shown} is not an absolute path"));
    }
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let count = reqwest::Certificate::from_pem_bundle(&pem).map(|c| c.len()).unwrap_or(0);
    if count == 0 {
        return Err(format!("{shown} holds no PEM certificate"));
    }
    let cert = Certificate::from_pem(&pem).map_err(|e| format!("{shown}: a certificate in it does not parse: {e}"))?;
    // Adding it to a root store parses each certificate (a garbled body passes the PEM split).
    TlsParameters::builder("localhost".into())
        .certificate_store(lettre::transport::smtp::client::CertificateStore::None)
        .add_root_certificate(cert)
        .build()
        .map_err(|e| format!("{shown}: a certificate in it cannot be used as a CA: {e}"))?;
    Certificate::from_pem(&pem).map_err(|e| format!("{shown}: a certificate in it does not parse: {e}"))
}

/// The TLS parameters for the server: the public roots plus the CA file's certificates.
fn tls_parameters(smtp: &SmtpSettings) -> std::result::Result<TlsParameters, String> {
    let mut params = TlsParameters::builder(smtp.host.clone());
    if let Some(ca) = &smtp.ca_file {
        params = params.add_root_certificate(load_ca_file(ca).map_err(|e| format!("the SMTP CA file: {e}"))?);
    }
    params.build().map_err(|e| format!("TLS set-up: {e}"))
}

/// Says what went wrong with a send in the words the publisher needs: an untrusted
/// certificate points at the CA file, a refused login at the user name and password.
fn describe(e: &lettre::transport::smtp::Error, ca_file: Option<&Path>) -> String {
    let text = e.to_string();
    if e.status().is_some_and(|c| matches!(c.to_string().as_str(), "534" | "535")) {
        return format!("the mail server refused the user name or password ({text})");
    }
    if text.to_ascii_lowercase().contains("certificate") {
        return match ca_file {
            Some(ca) => {
                format!("the mail server's certificate is not trusted, even with the CA file {} ({text})", ca.display())
            }
            None => format!(
                "the mail server's certificate is not trusted ({text}); if a company CA signs it, set the SMTP CA file"
            ),
        };
    }
    text
}

/// Whether a string looks like an email address (a light check; the server decides).
pub fn plausible_address(a: &str) -> bool {
    a.parse::<Mailbox>().is_ok()
}

const SETTING: &str = "smtp";

impl Renders {
    /// The SMTP settings, if any.
    pub async fn smtp_settings(&self) -> Result<Option<SmtpSettings>> {
        Ok(self.shared.store.setting(SETTING).await?.and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// The SMTP settings as the API shows them: no password, only whether one is set.
    pub async fn smtp_view(&self) -> Result<SmtpView> {
        Ok(match self.smtp_settings().await? {
            Some(s) => SmtpView::Configured(SmtpShown {
                password_set: s.password.as_deref().is_some_and(|p| !p.is_empty()),
                host: s.host,
                port: s.port,
                security: s.security,
                username: s.username,
                from: s.from,
                owner: s.owner,
                ca_file: s.ca_file,
            }),
            None => SmtpView::NotConfigured { configured: false },
        })
    }

    /// Stores SMTP settings (a missing password keeps the stored one).
    pub async fn set_smtp(&self, mut s: SmtpSettings) -> Result<()> {
        if s.host.trim().is_empty() {
            return Err(Error::Invalid("host: the SMTP server name is required".into()));
        }
        if s.port == 0 {
            return Err(Error::Invalid("port: must be between 1 and 65535".into()));
        }
        for (field, addr) in [("from", &s.from), ("owner", &s.owner)] {
            if !plausible_address(addr) {
                return Err(Error::Invalid(format!("{field}: {addr:?} is not an email address")));
            }
        }
        if s.ca_file.as_deref().is_some_and(|p| p.as_os_str().is_empty()) {
            s.ca_file = None;
        }
        if let Some(ca) = &s.ca_file {
            if s.security == Security::None {
                return Err(Error::Invalid(
                    "ca_file: a CA file is used only with STARTTLS or TLS, and security is none".into(),
                ));
            }
            load_ca_file(ca).map_err(|e| Error::Invalid(format!("ca_file: {e}")))?;
        }
        if s.password.is_none() {
            s.password = self.smtp_settings().await?.and_then(|old| old.password);
        }
        let text = serde_json::to_string(&s).unwrap_or_default();
        self.shared.store.set_setting(SETTING, &text).await
    }

    /// Emails the schedule's recipients after a render (or the owner, on failure), and
    /// records the outcome on the render. Never fails the render.
    pub(crate) async fn mail_after_render(
        &self,
        log: &TaskLog,
        row: &ScheduleRow,
        c: &ContentRow,
        outcome: &Result<i64>,
    ) {
        let render_id = match outcome {
            Ok(id) => Some(*id),
            Err(_) => self
                .shared
                .store
                .renders(c.id)
                .await
                .ok()
                .and_then(|r| r.into_iter().find(|r| r.variant_id == row.variant_id).map(|r| r.id)),
        };
        let status = match self.try_mail(row, c, outcome).await {
            Ok(n) => format!("sent to {n}"),
            Err(e) => {
                tracing::warn!(content = %c.guid, error = %e, "email after render failed");
                format!("failed: {e}")
            }
        };
        log.line(format!("Email: {status}")).await;
        if let Some(id) = render_id {
            let _ = self.shared.store.set_email_status(id, &status).await;
        }
    }

    async fn try_mail(
        &self,
        row: &ScheduleRow,
        c: &ContentRow,
        outcome: &Result<i64>,
    ) -> std::result::Result<usize, String> {
        let smtp = self.smtp_settings().await.map_err(|e| e.to_string())?.ok_or("no SMTP server is configured")?;
        let mut title = c.title.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| c.name.clone());
        let mut url = format!("{}/content/{}/", self.shared.default_origin(), c.guid);
        if let Some(v) = row.variant_id {
            if let Ok(variant) = self.shared.store.variant(v).await {
                title = format!("{title} ({})", variant.name);
            }
            url.push_str(&format!("_variant{v}/"));
        }
        let (to, subject, body, attachment) = match outcome {
            Ok(render_id) => {
                let list: Vec<String> = serde_json::from_str(&row.recipients).unwrap_or_default();
                if list.is_empty() {
                    return Err("the schedule has no recipients".into());
                }
                let attachment = if row.attach {
                    let out = self.render_dir(*render_id).join("output");
                    match super::render::primary_page(&out) {
                        Some(p) => tokio::fs::read(out.join(&p)).await.ok().map(|b| (p, b)),
                        None => None,
                    }
                } else {
                    None
                };
                if !row.publish {
                    // Not what viewers see (the schedule does not publish): this render's own page.
                    url.push_str(&format!("_render{render_id}/"));
                }
                (list, format!("{title}: rendered"), format!("{title} was rendered.\n\nOpen it: {url}\n"), attachment)
            }
            Err(e) => {
                let message = e.to_string();
                let lines: Vec<&str> = message.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].to_vec();
                let renders = self.shared.store.renders(c.id).await.unwrap_or_default();
                let served = renders.iter().any(|r| r.current && r.variant_id == row.variant_id);
                let after = if served {
                    format!("The last good version is still served: {url}")
                } else {
                    format!("It has not rendered successfully yet, so {url} shows nothing until a render succeeds.")
                };
                (
                    vec![smtp.owner.clone()],
                    format!("{title}: render failed"),
                    format!("The scheduled render of {title} failed.\n\n{}\n\n{after}\n", tail.join("\n")),
                    None,
                )
            }
        };
        let from: Mailbox = smtp.from.parse().map_err(|e| format!("from: {e}"))?;
        let mut builder = Message::builder().from(from).subject(subject);
        for addr in &to {
            builder = builder.to(addr.parse().map_err(|e| format!("recipient {addr}: {e}"))?);
        }
        let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(body);
        let message = match attachment {
            Some((name, bytes)) => builder.multipart(
                MultiPart::mixed()
                    .singlepart(text)
                    .singlepart(Attachment::new(name).body(bytes, ContentType::TEXT_HTML)),
            ),
            None => builder.singlepart(text),
        }
        .map_err(|e| e.to_string())?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host);
        let mut transport = match smtp.security {
            Security::Tls => builder.tls(Tls::Wrapper(tls_parameters(&smtp)?)),
            Security::Starttls => builder.tls(Tls::Required(tls_parameters(&smtp)?)),
            Security::None => builder,
        }
        .port(smtp.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
        if let (Some(user), Some(pass)) = (&smtp.username, &smtp.password) {
            transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        transport.build().send(message).await.map_err(|e| describe(&e, smtp.ca_file.as_deref()))?;
        Ok(to.len())
    }
}
