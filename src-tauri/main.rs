//! The `porch` command: the desktop window, the headless server and a small CLI.
//!
//! This file only parses arguments, resolves the configuration, binds the listener and
//! calls the engine; everything else lives in `porch-engine`. The desktop shell
//! (`desktop/`) is compiled only with the `gui` feature.

#[cfg(feature = "gui")]
mod desktop;

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::{Args, Parser, Subcommand};
use porch_engine::{Config, DeployOptions, Engine, Limits};

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// jemalloc instead of glibc's malloc: its background thread hands freed memory back to
/// the system a few seconds after a load ends, where glibc's per-thread arenas keep it
/// (bench/load.sh checks that RSS returns to its baseline).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Publish data-science work to everyone on your local network.
#[derive(Debug, Parser)]
#[command(name = "porch", version, args_conflicts_with_subcommands = true)]
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
    Key(KeyCommand),
    /// Show or change server settings (the app's Settings pane): port, bind, remote
    /// publishing and runtime defaults.
    Settings {
        #[command(subcommand)]
        command: Option<SettingsCommand>,
    },
    /// Deploy a folder, a file (.html .ipynb .qmd .Rmd .py .R) or a bundle (.tar.gz .zip).
    Deploy {
        /// What to deploy.
        path: PathBuf,
        /// Content name (default: derived from the path). An existing name is redeployed.
        #[arg(long)]
        name: Option<String>,
        /// Title shown to viewers.
        #[arg(long)]
        title: Option<String>,
        /// Who may view it: network (anyone who reaches Porch), local (this computer only) or
        /// link (whoever has the secret link; see `porch secret-link`). Connect's all,
        /// logged_in and acl are accepted too (acl = local).
        #[arg(long, value_name = "ACCESS")]
        access: Option<String>,
        /// Keep the item linked to the folder: the Porch server redeploys it on every save.
        #[arg(long)]
        watch: bool,
        /// Run it as this appmode instead of the detected one (e.g. static, jupyter-static,
        /// python-dash); the choice is stored with the version.
        #[arg(long, value_name = "APPMODE")]
        appmode: Option<String>,
        /// Run this entry point instead of the detected one: a file in the bundle (a page,
        /// notebook, document or script) or a Python module such as app:server.
        #[arg(long, value_name = "ENTRYPOINT")]
        entrypoint: Option<String>,
    },
    /// Set who may view an item: network, local or link.
    Access {
        /// The content name.
        name: String,
        /// network (anyone who reaches Porch), local (this computer only) or link (secret link holders).
        access: String,
    },
    /// Print a new secret link for an item (the previous one stops working), or revoke it.
    SecretLink {
        /// The content name.
        name: String,
        /// Revoke the link instead: it and the cookies it set stop working.
        #[arg(long)]
        revoke: bool,
    },
    /// List published content.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Render a notebook, Quarto document or R Markdown report now.
    Render {
        /// The content name.
        name: String,
        /// Render this variant (a named parameter set) instead of the document's defaults.
        #[arg(long)]
        variant: Option<String>,
    },
    /// Manage variants of a document: named parameter sets that render and schedule on their own.
    #[command(subcommand)]
    Variant(VariantCommand),
    /// Manage render schedules of a document.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Remove a content item and all its bundles.
    Rm {
        /// The content name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create an API key and print it (it is shown only once).
    New {
        /// A label to remember what the key is for.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// List keys (id, name, created); keys themselves are never shown again.
    List,
    /// Revoke a key by id, or every key with a name; it stops working at once.
    Revoke {
        /// The key's id or name (see `porch key list`).
        which: String,
    },
}

#[derive(Debug, Subcommand)]
enum SettingsCommand {
    /// Show the saved settings (the default when no subcommand is given).
    Show,
    /// Save settings, e.g. `porch settings set port=4000 bind=local remote-publishing=on
    /// max_processes=5`; `NAME=default` goes back to the default. Port and bind apply when
    /// Porch next starts; remote publishing and runtime defaults apply at once.
    Set {
        /// NAME=VALUE pairs: port, bind (network|local), remote-publishing (on|off), or a
        /// runtime default (min_processes, max_processes, max_conns_per_process,
        /// load_factor, idle_timeout, init_timeout, connection_timeout, read_timeout).
        #[arg(required = true, value_name = "NAME=VALUE")]
        assignments: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum VariantCommand {
    /// List a document's variants with their parameters and URLs.
    List {
        /// The content name.
        name: String,
    },
    /// Add a variant, e.g. `porch variant add report south -P region=south -P year=2026`.
    Add {
        /// The content name.
        name: String,
        /// The variant's name.
        variant: String,
        /// A parameter; the value is read as JSON when it parses (numbers, true, lists), else as text.
        #[arg(short = 'P', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Delete a variant with its renders and schedules.
    Rm {
        /// The content name.
        name: String,
        /// The variant's name or id.
        variant: String,
    },
}

/// `NAME=VALUE` pairs as a JSON object; values are JSON when they parse, else text.
fn parse_params(pairs: &[String]) -> anyhow::Result<serde_json::Value> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| anyhow!("-P {pair:?}: expected NAME=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        map.insert(k.trim().to_string(), value);
    }
    Ok(serde_json::Value::Object(map))
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// List an item's schedules with their next runs.
    List {
        /// The content name.
        name: String,
    },
    /// Add a schedule, e.g. `porch schedule add report --type day --start 2026-12-01T07:00:00Z --tz Europe/Berlin`.
    Add {
        /// The content name.
        name: String,
        /// minute, hour, day, weekday, week, dayofweek, semimonth, dayofmonth, dayweekofmonth, year or cron.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// Connect's schedule parameters as JSON, e.g. '{"N": 2}' or '{"Days": [1, 3]}'.
        #[arg(long, default_value = "{}")]
        params: String,
        /// A cron expression (with --type cron).
        #[arg(long)]
        cron: Option<String>,
        /// The first run (RFC 3339); defaults to now.
        #[arg(long)]
        start: Option<String>,
        /// The IANA time zone whose wall clock the schedule follows.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Render and keep the output, but leave what viewers see unchanged.
        #[arg(long)]
        no_publish: bool,
        /// Do not run a missed run when Porch comes back.
        #[arg(long)]
        no_catch_up: bool,
        /// Render this variant (name or id) instead of the document's defaults.
        #[arg(long)]
        variant: Option<String>,
    },
    /// Delete a schedule.
    Rm {
        /// The schedule id.
        id: i64,
    },
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// Address to listen on; 0.0.0.0 reaches the whole network, 127.0.0.1 only this
    /// computer [default: the saved setting, else 0.0.0.0].
    #[arg(long, env = "PORCH_BIND")]
    bind: Option<IpAddr>,
    /// Port to listen on, 0 picks a free one [default: the saved setting, else 3939].
    #[arg(long, env = "PORCH_PORT")]
    port: Option<u16>,
    /// The URL viewers use to reach Porch, e.g. http://porch.local:3939 (for absolute links).
    #[arg(long, env = "PORCH_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Accept publishing (management API calls with a key) from other computers.
    #[arg(long)]
    allow_remote_publishing: bool,
    /// Largest bundle accepted, in bytes (compressed upload and extracted total).
    #[arg(long, value_name = "BYTES")]
    max_bundle_bytes: Option<u64>,
    /// Most files one bundle may hold.
    #[arg(long, value_name = "N")]
    max_bundle_files: Option<u64>,
    /// How many documents may render at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    render_concurrency: u16,
    /// Successful renders kept per document (failed ones are kept with their logs).
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    keep_renders: u32,
    /// Stop a render that runs longer than this many seconds and record it as failed.
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    render_timeout: u64,
    /// Memory (MiB, resident, with its children) one app process may use before Porch
    /// replaces it; 0 for no limit. Items override it with `memory_limit`.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    app_memory_limit: u64,
    /// Seconds a running app may fail to answer its health check before Porch replaces
    /// it; 0 to never.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    app_hang_timeout: u64,
    /// Most open connections (WebSockets included); past it new ones get 503.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_connections: u64,
    /// Seconds a client gets to send a request's headers (also the keep-alive idle timeout).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout: u64,
    /// Longest request target (path and query) in bytes; longer gets 414.
    #[arg(long, value_name = "BYTES", default_value_t = 8192, value_parser = clap::value_parser!(u64).range(256..))]
    max_request_line: u64,
    /// Most bytes of request headers; more gets 431.
    #[arg(long, value_name = "BYTES", default_value_t = 32768, value_parser = clap::value_parser!(u64).range(1024..))]
    max_header_bytes: u64,
    /// Most request header fields; more gets 431.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(8..))]
    max_headers: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    init_tracing(serving);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("porch: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line.
fn one_line(e: &anyhow::Error) -> String {
    e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

fn init_tracing(serving: bool) {
    let default = if serving { "info,sqlx=warn,tower_http=warn" } else { "warn,sqlx=error" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn base_config(data_dir: Option<PathBuf>) -> anyhow::Result<Config> {
    let dir = match data_dir {
        Some(d) => d,
        None => Config::default_data_dir().ok_or_else(|| anyhow!("cannot find a data folder; pass --data-dir"))?,
    };
    let mut config = Config::new(dir);
    config.ui_assets = Some(UI_ASSETS);
    // A shared download cache for Python packages (tests and benchmarks use several data dirs).
    config.uv_cache_dir =
        std::env::var_os("PORCH_UV_CACHE_DIR").map(PathBuf::from).filter(|p| !p.as_os_str().is_empty());
    Ok(config)
}

fn serve_config(data_dir: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = base_config(data_dir)?;
    config.public_url = args.public_url.as_ref().map(|u| u.trim_end_matches('/').to_string());
    config.allow_remote_publishing = args.allow_remote_publishing;
    let defaults = Limits::default();
    config.limits = Limits {
        max_bundle_bytes: args.max_bundle_bytes.unwrap_or(defaults.max_bundle_bytes),
        max_bundle_files: args.max_bundle_files.unwrap_or(defaults.max_bundle_files),
    };
    config.render_concurrency = usize::from(args.render_concurrency);
    config.keep_renders = args.keep_renders as usize;
    config.render_timeout = Duration::from_secs(args.render_timeout);
    config.app_memory_limit = args.app_memory_limit.saturating_mul(1024 * 1024);
    config.app_hang_timeout = Duration::from_secs(args.app_hang_timeout);
    config.http = porch_engine::listener::HttpLimits {
        max_connections: args.max_connections as usize,
        max_request_line: args.max_request_line as usize,
        max_header_bytes: args.max_header_bytes as usize,
        max_headers: args.max_headers as usize,
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
    };
    if let Ok(user) = std::env::var("USER") {
        if !user.is_empty() {
            config.publisher = user;
        }
    }
    Ok(config)
}

/// Where to listen: `--bind`/`--port` (or their environment variables) where given, the
/// saved settings for the rest. Records in `config` which flags chose it.
fn listen_addr(config: &mut Config, args: &ServeArgs) -> anyhow::Result<SocketAddr> {
    let saved = match (args.bind, args.port) {
        (Some(ip), Some(port)) => SocketAddr::new(ip, port),
        _ => {
            let rt =
                tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start a runtime")?;
            rt.block_on(porch_engine::settings::read(config)).context("cannot read the saved settings")?.listen_addr()
        }
    };
    config.listen_flags = [("--bind", args.bind.is_some()), ("--port", args.port.is_some())]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| flag.to_string())
        .collect();
    Ok(SocketAddr::new(args.bind.unwrap_or(saved.ip()), args.port.unwrap_or(saved.port())))
}

fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).with_context(|| {
        format!(
            "cannot listen on {addr} (is Porch or another server already using port {}? try --port, or change the port with `porch settings set port=N`)",
            addr.port()
        )
    })?;
    listener.set_nonblocking(true).context("cannot configure the listener")?;
    Ok(listener)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => open_window(cli.data_dir, &cli.serve),
        Some(Command::Serve(args)) => serve(cli.data_dir, &args),
        Some(Command::Key(KeyCommand::New { name })) => runtime()?.block_on(async {
            let engine = Engine::open(base_config(cli.data_dir)?).await?;
            println!("{}", engine.library().new_api_key(&name).await?);
            Ok(())
        }),
        Some(Command::Key(KeyCommand::List)) => runtime()?.block_on(async {
            let engine = Engine::open(base_config(cli.data_dir)?).await?;
            let keys = engine.library().api_keys().await?;
            if keys.is_empty() {
                println!("No keys. Make one with: porch key new --name NAME");
            } else {
                println!("{:<6} {:<24} CREATED", "ID", "NAME");
                for k in keys {
                    println!("{:<6} {:<24} {}", k.id, k.name, k.created_time);
                }
            }
            Ok(())
        }),
        Some(Command::Key(KeyCommand::Revoke { which })) => runtime()?.block_on(async {
            let engine = Engine::open(base_config(cli.data_dir)?).await?;
            let n = engine.library().revoke_api_key(&which).await?;
            println!("Revoked {n} key{}", if n == 1 { "" } else { "s" });
            Ok(())
        }),
        Some(Command::Settings { command }) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            if let Some(SettingsCommand::Set { assignments }) = command {
                let patch = porch_engine::settings::patch_from_assignments(&assignments)?;
                engine.settings().update_server_settings(&patch).await.context("nothing was saved")?;
            }
            print_settings(&engine);
            Ok(())
        }),
        Some(Command::Access { name, access }) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            let c = engine.library().content_by_name(&name).await?;
            let c = engine.library().set_access(&c.guid, &access).await?;
            let origin = engine.default_origin();
            match c.viewer_access.as_str() {
                "network" => println!("{name} is open to everyone who can reach Porch"),
                "local" => println!("{name} is visible on this computer only"),
                _ if c.link_token_hash.is_some() => {
                    println!("{name} is visible only through its secret link (unchanged; `porch secret-link {name}` makes a new one)")
                }
                _ => {
                    let (c, token) = engine.library().new_secret_link(&c.guid).await?;
                    println!("{name} is visible only through its secret link (shown once):");
                    println!("{}", engine.library().secret_link_url(&c, &origin, &token));
                }
            }
            Ok(())
        }),
        Some(Command::SecretLink { name, revoke }) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            let c = engine.library().content_by_name(&name).await?;
            if revoke {
                engine.library().revoke_secret_link(&c.guid).await?;
                println!("Revoked the secret link of {name}");
                return Ok(());
            }
            let (c, token) = engine.library().new_secret_link(&c.guid).await?;
            if c.viewer_access != "link" {
                eprintln!(
                    "note: {name} is {} access; the link is needed only after `porch access {name} link`",
                    c.viewer_access
                );
            }
            println!("{}", engine.library().secret_link_url(&c, &engine.default_origin(), &token));
            Ok(())
        }),
        Some(Command::Deploy { path, name, title, access, watch, appmode, entrypoint }) => runtime()?.block_on(async {
            let data_dir = cli.data_dir.clone();
            if watch && !path.is_dir() {
                return Err(anyhow!(
                    "--watch needs a folder, and {} is not one: link the folder that holds the app, notebook or site",
                    path.display()
                ));
            }
            let engine = open_for_cli(cli.data_dir).await?;
            let opts = DeployOptions { name, title, access_type: access, appmode, entrypoint };
            let d = engine.deployer().deploy_path(&path, opts).await.with_context(|| format!("cannot deploy {}", path.display()))?;
            let verb = if d.created { "Published" } else { "Updated" };
            println!("{verb} {} (bundle {}, {})", d.content.name, d.bundle_id, d.content.app_mode);
            if d.content.viewer_access == "link" && !d.content.secret_link {
                eprintln!("note: {0} is visible only through a secret link; make one with `porch secret-link {0}`", d.content.name);
            }
            println!("{}", d.content.content_url);
            if watch {
                let folder = std::path::absolute(&path).with_context(|| format!("cannot resolve {}", path.display()))?;
                let link = engine.links().set_link(&d.content.guid, &folder, true).await.with_context(|| format!("cannot link {}", folder.display()))?;
                println!("Linked to {}: every save redeploys {}", link.path, d.content.name);
                if porch_engine::running_server(&base_config(data_dir)?).is_none() {
                    println!("No Porch server is running on this data folder; it follows the folder once `porch serve` (or the app) runs.");
                }
            }
            Ok(())
        }),
        Some(Command::List { json }) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            let items = engine.library().list_content().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                println!("Nothing is published yet. Try: porch deploy <folder>");
            } else {
                println!("{:<24} {:<18} {:<7} URL", "NAME", "TYPE", "ACCESS");
                for c in items {
                    println!("{:<24} {:<18} {:<7} {}", c.name, c.app_mode, c.viewer_access, c.content_url);
                }
            }
            Ok(())
        }),
        Some(Command::Render { name, variant }) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            let c = engine.library().content_by_name(&name).await?;
            let variant = match variant {
                Some(v) => Some(engine.renders().variant(&c.guid, &v).await?),
                None => None,
            };
            let task = engine.renders().render_variant_now(&c.guid, variant.as_ref().map(|v| v.id), "manual").await?;
            let done = engine.deployer().wait_task(&task).await?;
            if done.code != 0 {
                return Err(anyhow!("the render of {name} failed: {}", done.error.lines().next().unwrap_or("")));
            }
            let variant_id = variant.as_ref().map(|v| v.id);
            let latest = engine.renders().renders(&c.guid).await?.into_iter().find(|r| r.variant_id == variant_id);
            println!("Rendered {name} (render {})", latest.map(|r| r.id).unwrap_or_default());
            match &variant {
                Some(v) => println!("{}", engine.renders().variant_view(v, &c.guid)["url"].as_str().unwrap_or_default()),
                None => println!("{}", engine.library().view(&engine.library().content(&c.guid).await?, &engine.default_origin()).content_url),
            }
            Ok(())
        }),
        Some(Command::Variant(cmd)) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            match cmd {
                VariantCommand::List { name } => {
                    let c = engine.library().content_by_name(&name).await?;
                    let views: Vec<serde_json::Value> =
                        engine.renders().variants(&c.guid).await?.iter().map(|v| engine.renders().variant_view(v, &c.guid)).collect();
                    println!("{}", serde_json::to_string_pretty(&views)?);
                }
                VariantCommand::Add { name, variant, params } => {
                    let c = engine.library().content_by_name(&name).await?;
                    let v = engine.renders().create_variant(&c.guid, &variant, &parse_params(&params)?).await?;
                    println!("Added variant {:?} (id {}) of {name}; render it with: porch render {name} --variant {:?}", v.name, v.id, v.name);
                }
                VariantCommand::Rm { name, variant } => {
                    let c = engine.library().content_by_name(&name).await?;
                    let v = engine.renders().variant(&c.guid, &variant).await?;
                    engine.renders().delete_variant(&c.guid, v.id).await?;
                    println!("Removed variant {:?} of {name}", v.name);
                }
            }
            Ok(())
        }),
        Some(Command::Schedule(cmd)) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            match cmd {
                ScheduleCommand::List { name } => {
                    let c = engine.library().content_by_name(&name).await?;
                    let rows = engine.renders().schedules(&c.guid).await?;
                    let views: Vec<serde_json::Value> = rows.iter().map(|r| engine.renders().schedule_view(r, &c.guid)).collect();
                    println!("{}", serde_json::to_string_pretty(&views)?);
                }
                ScheduleCommand::Add { name, kind, params, cron, start, tz, no_publish, no_catch_up, variant } => {
                    let c = engine.library().content_by_name(&name).await?;
                    let variant = match variant {
                        Some(v) => Some(engine.renders().variant(&c.guid, &v).await?.id),
                        None => None,
                    };
                    let params: serde_json::Value =
                        serde_json::from_str(&params).map_err(|e| anyhow!("--params is not JSON: {e}"))?;
                    let start = start.unwrap_or_else(porch_engine::time::now);
                    let mut def = serde_json::json!({ "type": kind, "schedule": params, "start_time": start, "timezone": tz });
                    if let Some(expr) = cron {
                        def["cron"] = serde_json::json!(expr);
                    }
                    let opts = porch_engine::renders::OptionsPatch {
                        publish: Some(!no_publish),
                        catch_up: Some(!no_catch_up),
                        ..Default::default()
                    };
                    let row = engine.renders().create_schedule(&c.guid, variant, &def, &opts).await?;
                    let view = engine.renders().schedule_view(&row, &c.guid);
                    println!("Added schedule {} for {name}; next run {}", row.id, view["next_run"].as_str().unwrap_or("never"));
                }
                ScheduleCommand::Rm { id } => {
                    engine.renders().delete_schedule(id).await?;
                    println!("Removed schedule {id}");
                }
            }
            Ok(())
        }),
        Some(Command::Rm { name }) => runtime()?.block_on(async {
            let engine = open_for_cli(cli.data_dir).await?;
            engine.deployer().remove_by_name(&name).await?;
            println!("Removed {name}");
            Ok(())
        }),
    }
}

/// The saved settings, one per line, marking what differs from the default.
fn print_settings(engine: &Engine) {
    let view = engine.settings().server_view();
    let s = &view.settings;
    let mark = |changed: bool| if changed { "" } else { "  (default)" };
    let saved = engine.settings().saved_settings();
    println!("port                     {}{}", s.port, mark(saved.port.is_some()));
    let bind = match s.bind {
        porch_engine::settings::BindScope::Network => "network (everyone on your network)",
        porch_engine::settings::BindScope::Local => "local (only this computer)",
    };
    println!("bind                     {bind}{}", mark(saved.bind.is_some()));
    let remote = if s.allow_remote_publishing { "on" } else { "off" };
    println!("remote-publishing        {remote}{}", mark(saved.allow_remote_publishing.is_some()));
    let d = serde_json::to_value(&view.runtime_defaults).unwrap_or_default();
    for field in porch_engine::settings::DEFAULT_FIELDS {
        let value = d.get(*field).map(ToString::to_string).unwrap_or_default();
        println!("{field:<24} {value}{}", mark(s.changed_runtime_defaults.iter().any(|c| c == field)));
    }
    println!("Port and bind apply when Porch next starts (a --port or --bind flag wins); the rest applies at once.");
}

/// Opens the data directory for a one-shot command. When a server is running on it, its
/// origin is used for printed URLs (and the server picks up the change by itself).
async fn open_for_cli(data_dir: Option<PathBuf>) -> anyhow::Result<Engine> {
    let mut config = base_config(data_dir)?;
    if let Some(running) = porch_engine::running_server(&config) {
        config.public_url = Some(running.origin);
    }
    Ok(Engine::open(config).await?)
}

fn serve(data_dir: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = serve_config(data_dir, args)?;
    let listener = bind(listen_addr(&mut config, args)?)?;
    runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).context("cannot use the listener")?;
        // Handlers first: a signal that arrives right after the address is printed must
        // still shut down cleanly.
        let signals = Signals::install()?;
        let engine = porch_engine::server::start(config, listener).await?;
        let addr = engine.local_addr().ok_or_else(|| anyhow!("the server did not report its address"))?;
        // The first line is machine-readable: tests and scripts read the port from it.
        println!("Listening on http://{addr}/");
        println!("Viewers on your network can open:");
        for url in engine.viewer_urls() {
            println!("  {url}");
        }
        if !engine.settings().allow_remote_publishing() {
            println!("Publishing is allowed from this computer only (with an API key: porch key new).");
        }
        signals.wait().await;
        eprintln!("porch: shutting down");
        engine.shutdown(Duration::from_secs(10)).await;
        Ok(())
    })
}

/// SIGTERM and SIGINT, listened for from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

#[cfg(feature = "gui")]
fn open_window(data_dir: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = serve_config(data_dir, args)?;
    let listener = match bind(listen_addr(&mut config, args)?) {
        Ok(listener) => listener,
        // Porch is already running on this data folder: bring its window forward instead.
        Err(err) => match porch_engine::running_server(&config) {
            Some(running) => return desktop::focus_running(&running),
            None => return Err(err),
        },
    };
    desktop::run(config, listener)
}

#[cfg(not(feature = "gui"))]
fn open_window(_: Option<PathBuf>, _: &ServeArgs) -> anyhow::Result<()> {
    Err(anyhow!("this build of Porch has no desktop window; run `porch serve` to serve headless"))
}
