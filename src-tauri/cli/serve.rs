//! `porch serve` and `porch` (the window): take the data folder, bind, serve until a signal.
//!
//! The data folder's lock is taken before the port is bound, so a second server on the same
//! folder stops with one line naming the first, whichever port either asked for.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use clap::Args;
use porch_engine::data_dir::{Busy, DataLock, Holder, Role};
use porch_engine::{Config, Limits};

/// How long a second server waits for a starting first one to say where it listens.
const ANNOUNCE_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; 0.0.0.0 reaches the whole network, 127.0.0.1 only this
    /// computer [default: the saved setting, else 0.0.0.0].
    #[arg(long, env = "PORCH_BIND")]
    bind: Option<IpAddr>,
    /// Port to listen on, 0 picks a free one [default: the saved setting, else 3939].
    #[arg(long, env = "PORCH_PORT")]
    port: Option<u16>,
    /// The URL viewers use to reach Porch, e.g. http://porch.local:3939 (for absolute links).
    #[arg(long, env = "PORCH_PUBLIC_URL", value_name = "URL", value_parser = public_url)]
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

fn serve_config(data_dir: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<Config> {
    let mut config = super::base_config(data_dir)?;
    config.public_url.clone_from(&args.public_url);
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

/// `--public-url`: an `http` or `https` URL with a host and nothing after its path, which
/// every absolute link and `content_url` starts with; kept without a trailing `/`.
fn public_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim())
        .map_err(|e| format!("{text:?} is not a URL ({e}); e.g. http://porch.local:3939"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} is not an http or https URL with a host; e.g. http://porch.local:3939"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{text:?}: give the address only, without a query, fragment or user"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrNotAvailable => format!(
                "{} is not an address of this computer; --bind 0.0.0.0 listens on the whole network, 127.0.0.1 on this computer only",
                addr.ip()
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("port {} needs administrator rights; try a port above 1023", addr.port())
            }
            _ => format!(
                "is Porch or another server already using port {}? try --port, or change the port with `porch settings set port=N`",
                addr.port()
            ),
        };
        anyhow::Error::new(e).context(format!("cannot listen on {addr} ({why})"))
    })?;
    listener.set_nonblocking(true).context("cannot configure the listener")?;
    Ok(listener)
}

/// What stopped a server from taking the data folder.
pub(crate) enum Taken {
    /// Another server holds it (with its address once it has announced one).
    ByServer(Holder),
}

/// Takes the data folder for a server: waits while a CLI command works alone on it, and
/// refuses (naming it) when another server holds it.
pub(crate) fn lock_for_serving(data_dir: &std::path::Path) -> anyhow::Result<Result<DataLock, Taken>> {
    let mut told = false;
    let mut starting_since: Option<Instant> = None;
    loop {
        match DataLock::try_acquire(data_dir, Role::Server, None)? {
            Ok(lock) => return Ok(Ok(lock)),
            Err(Busy::HeldBy(Some(h))) if h.role == Role::Server => {
                let since = *starting_since.get_or_insert_with(Instant::now);
                if h.url.is_some() || since.elapsed() > ANNOUNCE_WAIT {
                    return Ok(Err(Taken::ByServer(h)));
                }
            }
            Err(Busy::HeldBy(Some(h))) if !told => {
                eprintln!(
                    "note: waiting for `porch {}` (pid {}) to finish with this data folder",
                    h.command.as_deref().unwrap_or_default(),
                    h.pid
                );
                told = true;
            }
            Err(Busy::HeldBy(None)) => {
                let since = *starting_since.get_or_insert_with(Instant::now);
                if since.elapsed() > ANNOUNCE_WAIT {
                    return Err(super::unnamed_holder(data_dir));
                }
            }
            Err(Busy::HeldBy(_)) => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The one line a second server stops with.
pub(crate) fn already_serving(h: &Holder) -> anyhow::Error {
    match &h.url {
        Some(url) => anyhow!("Porch is already serving this folder at {url}, pid {}", h.pid),
        None => anyhow!("Porch is already serving this folder (still starting), pid {}", h.pid),
    }
}

/// `porch serve`.
pub(crate) fn serve(data_dir: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = serve_config(data_dir, args)?;
    let mut lock = match lock_for_serving(&config.data_dir)? {
        Ok(lock) => lock,
        Err(Taken::ByServer(h)) => return Err(already_serving(&h)),
    };
    let listener = bind(listen_addr(&mut config, args)?)?;
    super::runtime()?.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).context("cannot use the listener")?;
        // Handlers first: a signal that arrives right after the address is printed must
        // still shut down cleanly.
        let signals = Signals::install()?;
        let engine = porch_engine::server::start(config, listener).await?;
        let addr = engine.local_addr().ok_or_else(|| anyhow!("the server did not report its address"))?;
        let info = engine.runtime_info().ok_or_else(|| anyhow!("the server did not report its address"))?;
        lock.announce(&info.url, &info.origin)?;
        // The first line is machine-readable: tests and scripts read the port from it.
        println!("Listening on http://{addr}/");
        // The name on the network is known once probing is over (about a second).
        let named = engine.discovery().settled(Duration::from_secs(4)).await;
        println!("Name on the network: {}", named.note);
        if porch_engine::listener::is_loopback(addr.ip()) {
            println!("Only this computer can open (Porch listens on {} only):", addr.ip());
        } else {
            println!("Viewers on your network can open:");
        }
        for url in engine.viewer_urls() {
            println!("  {url}");
        }
        if !engine.settings().allow_remote_publishing() {
            println!("Publishing is allowed from this computer only (with an API key: porch key new).");
        }
        signals.wait().await;
        eprintln!("porch: shutting down");
        engine.shutdown(Duration::from_secs(10)).await;
        Ok::<_, anyhow::Error>(())
    })?;
    drop(lock);
    Ok(())
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

/// `porch` with no command: the desktop window.
///
/// Started from the applications menu there is no terminal to print an error on, so every
/// start-up failure (a data folder that cannot be used, a port that is taken, an engine that
/// cannot start) is also shown as a desktop notification.
#[cfg(feature = "gui")]
pub(crate) fn open_window(data_dir: Option<PathBuf>, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = match serve_config(data_dir, args) {
        Ok(config) => config,
        Err(err) => return crate::desktop::report_failure(err),
    };
    let lock = match lock_for_serving(&config.data_dir) {
        Ok(Ok(lock)) => lock,
        // Porch already serves this data folder: bring its window forward instead.
        Ok(Err(Taken::ByServer(h))) => return crate::desktop::focus_running(&config, &h, already_serving(&h)),
        Err(err) => return crate::desktop::report_failure(err),
    };
    let listener = match listen_addr(&mut config, args).and_then(bind) {
        Ok(listener) => listener,
        Err(err) => return crate::desktop::report_failure(err),
    };
    match crate::desktop::run(config, listener, lock) {
        Err(err) => crate::desktop::report_failure(err),
        Ok(()) => Ok(()),
    }
}

/// `porch` with no command in a build without the window.
#[cfg(not(feature = "gui"))]
pub(crate) fn open_window(_: Option<PathBuf>, _: &ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("this build of Porch has no desktop window; run `porch serve` to serve headless")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_public_url_is_an_http_address_and_nothing_else() {
        assert_eq!(super::public_url("http://porch.local:3939/").as_deref(), Ok("http://porch.local:3939"));
        assert_eq!(
            super::public_url("https://reports.example.org/porch").as_deref(),
            Ok("https://reports.example.org/porch")
        );
        for bad in
            ["not a url", "porch.local:3939", "ftp://x", "http://", "http://h/?a=1", "http://h/#top", "http://u:p@h/"]
        {
            let err = super::public_url(bad).expect_err(bad);
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
