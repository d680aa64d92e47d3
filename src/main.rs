//! The `ws3-lint` binary: parses the command line and maps the outcome to an exit code.

use std::{
    io::{self, IsTerminal},
    process::ExitCode,
};

use clap::Parser;
use ws3_lint::{Console, cli::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut console = Console {
        stdin: io::stdin().lock(),
        stdout: io::BufWriter::new(io::stdout().lock()),
        stderr: io::stderr().lock(),
        stdout_is_terminal: io::stdout().is_terminal(),
        stderr_is_terminal: io::stderr().is_terminal(),
    };
    match ws3_lint::run(&cli, &mut console) {
        Ok(status) => ExitCode::from(status.code()),
        Err(ws3_lint::Error::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::from(2)
        }
        Err(e) => {
            // Every error's message already carries its cause.
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
