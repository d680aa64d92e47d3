//! `ws3-webhook serve`: see the crate docs of `ws3_webhook`.

use clap::Parser;
use ws3_webhook::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    let directives = args
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".into());
    // Held for the whole process, dropped at the end of main: writes out the queued log lines.
    let _logs = ws3_webhook::logging::init(&directives);
    match ws3_webhook::serve(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "ws3-webhook failed");
            std::process::ExitCode::FAILURE
        }
    }
}
