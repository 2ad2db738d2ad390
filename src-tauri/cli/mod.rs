//! The command line: argument parsing and one module per command.
//!
//! Owns: the `porch` command's flags, its output and its exit codes. Does not own: anything
//! a command does, which is an engine operation reached through the API.
//!
//! **One writer per data folder.** `porch` and `porch serve` ([`serve`]) hold the data
//! folder's lock for as long as they run. Every other command talks to Porch's API through
//! [`client::Porch`]: over loopback HTTP to the server that holds the folder (with the local
//! credential it wrote), or, when none runs, to an engine opened in this process under the
//! same lock for the command's duration. Either way a change goes through the one engine
//! that owns the database, so a running server sees it at once.
//!
//! Adding a command: one new file with its clap `Args` and an `async fn run(self, porch)`,
//! and one line in [`Command`] and in [`run`].
//!
//! Concurrency: each command builds one tokio runtime and runs to completion on it.

mod access;
pub mod client;
pub mod deploy;
mod doctor;
mod export;
mod key;
mod list;
mod promote;
mod render;
mod rm;
mod schedule;
mod secret_link;
mod serve;
mod settings;
mod smtp;
mod tag;
mod target;
mod variant;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context as _};
use clap::{Parser, Subcommand};
use porch_engine::Config;

use client::Porch;
use serve::ServeArgs;

/// Publish data-science work to everyone on your local network.
#[derive(Debug, Parser)]
#[command(name = "porch", version)]
struct Cli {
    /// Where Porch keeps its database and bundles [default: the platform's data folder].
    #[arg(long, global = true, env = "PORCH_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,

    /// Server settings for the desktop window (same as `porch serve`).
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve headless (no window) and print the LAN URLs.
    Serve(ServeArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Show or change server settings (the app's Settings pane): port, bind, remote
    /// publishing and runtime defaults.
    Settings(settings::SettingsArgs),
    /// Show or change the mail server schedules email through, and its CA file
    /// (`porch smtp set smtp_ca_file=/path/ca.pem`).
    Smtp(smtp::SmtpArgs),
    /// Deploy a folder, a file (.html .ipynb .qmd .Rmd .py .R) or a bundle (.tar.gz .zip).
    Deploy(deploy::DeployArgs),
    /// Set who may view an item: network, local or link.
    Access(access::AccessArgs),
    /// Print a new secret link for an item (the previous one stops working), or revoke it.
    SecretLink(secret_link::SecretLinkArgs),
    /// List published content.
    List(list::ListArgs),
    /// Render a notebook, Quarto document or R Markdown report now.
    Render(render::RenderArgs),
    /// Manage variants of a document: named parameter sets that render and schedule on their own.
    #[command(subcommand)]
    Variant(variant::VariantCommand),
    /// Manage render schedules of a document.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Remove a content item and all its bundles.
    Rm(rm::RmArgs),
    /// Tag items (Connect's tag tree): `porch tag list|add|rm NAME TAG`, where TAG may be a
    /// path such as finance/quarterly.
    #[command(subcommand)]
    Tag(tag::TagCommand),
    /// Manage the Posit Connect servers items are promoted to.
    #[command(subcommand)]
    Target(target::TargetCommand),
    /// Promote an item to a Posit Connect server in one step (bundle, settings, variables).
    Promote(promote::PromoteArgs),
    /// Check that viewers on the network can reach Porch, and say why not with the fix
    /// (exit 1 when a problem is found); `--wait` also tests from your phone.
    Doctor(doctor::DoctorArgs),
    /// Write an item's bundle (with a manifest Connect accepts) and a README to a folder.
    Export(export::ExportArgs),
}

impl Command {
    /// The name the lock file shows while this command works alone on the folder.
    fn name(&self) -> &'static str {
        match self {
            Command::Serve(_) => "serve",
            Command::Key(_) => "key",
            Command::Settings(_) => "settings",
            Command::Smtp(_) => "smtp",
            Command::Deploy(_) => "deploy",
            Command::Access(_) => "access",
            Command::SecretLink(_) => "secret-link",
            Command::List(_) => "list",
            Command::Render(_) => "render",
            Command::Variant(_) => "variant",
            Command::Schedule(_) => "schedule",
            Command::Rm(_) => "rm",
            Command::Tag(_) => "tag",
            Command::Target(_) => "target",
            Command::Promote(_) => "promote",
            Command::Export(_) => "export",
            Command::Doctor(_) => "doctor",
        }
    }
}

/// Parses the command line, runs the command and turns its error into one line.
pub fn main() -> ExitCode {
    let cli = parse();
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    init_tracing(serving);
    if !serving {
        quiet_when_the_reader_leaves();
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The report said it all.
        Err(e) if e.is::<doctor::ProblemsFound>() => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("porch: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// A command whose reader stops early (`porch list | head -1`) ends quietly with the status
/// of a broken pipe (141), as `ls` and `cat` do. Rust ignores SIGPIPE, so `println!` meets
/// EPIPE and panics; restoring the signal's default would need `unsafe`. Not for a server,
/// whose later lines must not end it.
fn quiet_when_the_reader_leaves() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The command line, as clap reads it, with rules clap cannot say: the window's server
/// options (`--port`, `--bind`, …) come before no command but `serve`, whose own they are
/// then. `--data-dir` (and `PORCH_DATA_DIR`) go anywhere, as every command has a data folder.
fn parse() -> Cli {
    use clap::{Args as _, CommandFactory as _, FromArgMatches as _};
    let mut matches = Cli::command().get_matches();
    let window = ServeArgs::augment_args(clap::Command::new("window"));
    let before = |m: &clap::ArgMatches| {
        window
            .get_arguments()
            .find(|arg| m.value_source(arg.get_id().as_str()) == Some(clap::parser::ValueSource::CommandLine))
    };
    if matches.subcommand_name() == Some("serve") && before(&matches).is_some() {
        // `porch --port 4000 serve` means `porch serve --port 4000`: read it so (an option
        // given on both sides is then refused by clap as given twice).
        matches = Cli::command().get_matches_from(serve_first(std::env::args_os().collect()));
    }
    if matches.subcommand_name().is_some() {
        if let Some(arg) = before(&matches) {
            let flag = arg.get_long().map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
            Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "{flag} before a command is the window's option; for a headless server, put it after `serve` (porch serve {flag} …)"
                    ),
                )
                .exit();
        }
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The arguments with the `serve` command moved to the front: the first `serve` that is not
/// the value of an option before it.
fn serve_first(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let takes_value = |a: &std::ffi::OsString| {
        a.to_str().is_some_and(|a| a.starts_with("--") && !a.contains('=') && a != "--allow-remote-publishing")
    };
    if let Some(i) = (1..args.len()).find(|&i| args[i] == "serve" && !(i > 1 && takes_value(&args[i - 1]))) {
        let serve = args.remove(i);
        args.insert(1, serve);
    }
    args
}

/// A data folder locked by a process that does not say who it is: its lock file and runtime
/// file were deleted under it (or it has not written them for a long while).
fn unnamed_holder(data_dir: &std::path::Path) -> anyhow::Error {
    anyhow!(
        "another process holds the data folder {} and does not say which (porch.lock and porch.run.json are \
         missing): stop the other Porch (look for `porch` processes) and try again",
        data_dir.display()
    )
}

/// The error and its causes on one line. A cause whose text the line already ends with
/// (an error that quotes its own cause, such as "cannot read x: No such file or directory")
/// is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Logs to stderr: `info` while serving (`RUST_LOG` overrides), warnings otherwise.
pub fn init_tracing(serving: bool) {
    let default = if serving { "info,sqlx=warn,tower_http=warn" } else { "warn,sqlx=error" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// The configuration every command starts from: the data folder and what the build embeds.
pub fn base_config(data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let dir = match data_dir {
        Some(d) => d,
        None => Config::default_data_dir().ok_or_else(|| anyhow!("cannot find a data folder; pass --data-dir"))?,
    };
    let mut config = Config::new(dir);
    config.ui_assets = Some(crate::UI_ASSETS);
    // A shared download cache for Python packages (tests and benchmarks use several data dirs).
    config.uv_cache_dir =
        std::env::var_os("PORCH_UV_CACHE_DIR").map(PathBuf::from).filter(|p| !p.as_os_str().is_empty());
    config.packaged_uv = std::env::current_exe().ok().and_then(|exe| packaged(&exe, "uv"));
    Ok(config)
}

/// The uv installed beside this executable: `<prefix>/lib/porch/uv` for `<prefix>/bin/porch`
/// (the `.deb` puts them at `/usr/bin/porch` and `/usr/lib/porch/uv`). `None` for a binary
/// outside a `bin` folder (a build in `target/`); whether the file exists is checked when
/// uv is needed.
///
/// The same rule places the window's program, `porch-shell` (`desktop::child`).
pub(crate) fn packaged(exe: &std::path::Path, program: &str) -> Option<PathBuf> {
    let bin = exe.parent()?;
    if bin.file_name()? != "bin" {
        return None;
    }
    Some(bin.parent()?.join("lib").join("porch").join(program))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        None => return serve::open_window(cli.data_dir, &cli.serve),
        Some(Command::Serve(args)) => return serve::serve(cli.data_dir, &args),
        Some(command) => command,
    };
    let config = base_config(cli.data_dir)?;
    runtime()?.block_on(async move {
        let porch = Porch::connect(config, command.name()).await?;
        match command {
            Command::Serve(_) => unreachable!("handled above"),
            Command::Key(cmd) => cmd.run(&porch).await,
            Command::Settings(args) => args.run(&porch).await,
            Command::Smtp(args) => args.run(&porch).await,
            Command::Deploy(args) => args.run(&porch).await,
            Command::Access(args) => args.run(&porch).await,
            Command::SecretLink(args) => args.run(&porch).await,
            Command::List(args) => args.run(&porch).await,
            Command::Render(args) => args.run(&porch).await,
            Command::Variant(cmd) => cmd.run(&porch).await,
            Command::Schedule(cmd) => cmd.run(&porch).await,
            Command::Rm(args) => args.run(&porch).await,
            Command::Tag(cmd) => cmd.run(&porch).await,
            Command::Target(cmd) => cmd.run(&porch).await,
            Command::Promote(args) => args.run(&porch).await,
            Command::Export(args) => args.run(&porch).await,
            Command::Doctor(args) => args.run(&porch).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    #[test]
    fn the_packaged_uv_sits_in_lib_porch_beside_the_bin_folder() {
        assert_eq!(super::packaged(Path::new("/usr/bin/porch"), "uv"), Some(PathBuf::from("/usr/lib/porch/uv")));
        assert_eq!(
            super::packaged(Path::new("/opt/porch/bin/porch"), "uv"),
            Some(PathBuf::from("/opt/porch/lib/porch/uv"))
        );
        assert_eq!(super::packaged(Path::new("/work/target/release/porch"), "uv"), None);
    }

    /// An error that quotes its cause (as the engine's `BundleError::Source` does) is not
    /// followed by the cause again; every other cause is.
    #[test]
    fn one_line_names_each_cause_once() {
        #[derive(Debug)]
        struct Quoting {
            source: std::io::Error,
        }
        impl std::fmt::Display for Quoting {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "cannot read /nowhere: {}", self.source)
            }
        }
        impl std::error::Error for Quoting {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let quoted = anyhow::Error::new(Quoting { source: missing() }).context("cannot deploy /nowhere");
        assert_eq!(super::one_line(&quoted), "cannot deploy /nowhere: cannot read /nowhere: No such file or directory");
        let plain = anyhow::Error::new(missing()).context("cannot read /nowhere").context("cannot deploy /nowhere");
        assert_eq!(super::one_line(&plain), "cannot deploy /nowhere: cannot read /nowhere: No such file or directory");
    }
}
