//! `ws3-webhook serve`: see the crate docs of `ws3_webhook`.

use clap::Parser;
use ws3_webhook::cli::{Cli, Command};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Command::Serve(args) => *args,
        Command::Registration(args) => {
            return match ws3_webhook::registration(&args) {
                Ok(json) => {
                    println!("{json}");
                    std::process::ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    };
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
