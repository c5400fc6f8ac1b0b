//! The `rotation-server` binary: parse flags, set up logging, bind, run until SIGTERM/ctrl-c;
//! SIGHUP reloads the config.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// The rotation daemon.
#[derive(Debug, Parser)]
#[command(name = "rotation-server", version, about)]
struct Args {
    /// Config file (the CLI's, with a `[server]` section).
    #[arg(long, env = "ROTATION_CONFIG", default_value = "rotation.toml")]
    config: PathBuf,
    /// Listen address, overriding `[server] listen` (e.g. 127.0.0.1:0 in tests).
    #[arg(long, value_parser = rotation_config::server::parse_listen)]
    listen: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

/// Resolves on SIGTERM or ctrl-c. The handlers are installed when this is called (before
/// recovery and start-up), so a signal during start-up is a graceful stop too.
fn shutdown() -> impl std::future::Future<Output = ()> + Send + 'static {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    let ctrl_c = tokio::spawn(tokio::signal::ctrl_c());
    async move {
        let term = async {
            match term {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
        tracing::info!("shutdown requested");
    }
}

/// One message per SIGHUP (repeats while a reload runs count once). Installed before start-up
/// like [`shutdown`]: a SIGHUP then reloads once the server runs instead of killing it.
fn reloads() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading the config");
                    let _ = tx.try_send(());
                }
            });
        }
        Err(e) => eprintln!("warning: no SIGHUP handler ({e}); reload with POST /v1/reload"),
    }
    rx
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let stop = shutdown();
    let reloads = reloads();
    let format = if args.log_format == "json" {
        rotation_runtime::logging::LogFormat::Json
    } else {
        rotation_runtime::logging::LogFormat::Text
    };
    let verbosity = rotation_runtime::logging::Verbosity {
        default: tracing::Level::INFO,
        verbose: 0,
    };
    rotation_runtime::logging::init(verbosity, format);
    let config = match rotation_config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = args.listen.unwrap_or(config.server.listen);
    // Before binding: plain HTTP on a public address is a config error, like any other.
    if let Err(e) = config.server.check_listen(&addr) {
        let from = if args.listen.is_some() {
            " (from --listen)"
        } else {
            ""
        };
        eprintln!("error: {}: {e}{from}", args.config.display());
        return ExitCode::from(2);
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    if let Ok(local) = listener.local_addr() {
        // Tests and wrappers read the bound address from here.
        println!("listening on {local}");
    }
    let settings = rotation_server::Settings {
        config,
        config_path: args.config,
    };
    match rotation_server::launch_with_reload(settings, listener, stop, reloads).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
