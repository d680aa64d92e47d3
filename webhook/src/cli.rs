//! Command line: `ws3-webhook serve ...`. Every flag can also be set from the environment variable
//! named in its help (the Helm chart relies on these names).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

/// ws3 validating admission webhook.
#[derive(Debug, Parser)]
#[command(name = "ws3-webhook", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve `POST /validate` over HTTPS and `/healthz`, `/readyz`, `/metrics` over HTTP.
    Serve(ServeArgs),
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// PEM certificate chain of the admission endpoint (reloaded when the file changes).
    #[arg(long, env = "WS3_CERT", value_name = "FILE")]
    pub cert: PathBuf,

    /// PEM private key of the admission endpoint (reloaded when the file changes).
    #[arg(long, env = "WS3_KEY", value_name = "FILE")]
    pub key: PathBuf,

    /// PEM CA bundle: when set, clients (the API server) must present a certificate it signed.
    #[arg(long, env = "WS3_CLIENT_CA", value_name = "FILE")]
    pub client_ca: Option<PathBuf>,

    /// Address of the HTTPS admission endpoint.
    #[arg(long, env = "WS3_ADDR", default_value = "0.0.0.0:8443")]
    pub addr: SocketAddr,

    /// Address of the plain-HTTP health and metrics endpoint.
    #[arg(long, env = "WS3_HEALTH_ADDR", default_value = "0.0.0.0:8080")]
    pub health_addr: SocketAddr,

    /// The ws3 configuration file (`.ws3.yaml` format: modes, onError, settings, exempt
    /// namespaces, extra modules). Without it every built-in rule runs in enforce mode.
    #[arg(long, env = "WS3_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Kubeconfig to reach the API server; without it the in-cluster service account is used.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Deadline of one admission review, end to end; keep it below the webhook's
    /// `timeoutSeconds` (10 s by default). Accepts `8s`, `2500ms` or plain seconds.
    #[arg(long, env = "WS3_REQUEST_TIMEOUT", default_value = "8s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Deadline of one rule module call.
    #[arg(long, env = "WS3_RULE_TIMEOUT", default_value = "500ms", value_parser = parse_duration)]
    pub rule_timeout: Duration,

    /// Memory cap of one rule module instance, in MiB.
    #[arg(long, env = "WS3_RULE_MEMORY_MIB", default_value_t = 64)]
    pub rule_memory_mib: usize,

    /// Reviews evaluated at once (also the wasm instance pool size); more wait for a slot.
    /// Default: twice the number of CPUs, at least 4.
    #[arg(long, env = "WS3_MAX_CONCURRENCY")]
    pub max_concurrency: Option<u32>,

    /// How often the certificate, key and client CA files are checked for changes.
    #[arg(long, env = "WS3_CERT_RELOAD_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub cert_reload_interval: Duration,

    /// Where compiled rule modules are cached (default: `$XDG_CACHE_HOME/ws3/modules` or
    /// `$HOME/.cache/ws3/modules`); `none` disables the cache.
    #[arg(long, env = "WS3_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// The webhook's own namespace, exempt from review like the configured exempt namespaces
    /// (set from the downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,

    /// A denial by a rule that reads other objects (headless Service, default-deny policy) is
    /// judged again after this delay, in case the watch caches had not yet seen an object created
    /// just before (e.g. earlier in the same `kubectl apply`). `0` judges once.
    #[arg(long, env = "WS3_CACHE_SETTLE", default_value = "1s", value_parser = parse_duration_or_zero)]
    pub cache_settle: Duration,

    /// After SIGTERM, how long `/readyz` fails while reviews are still served, so that the
    /// Service's endpoints drop the pod before the listener closes; then in-flight reviews are
    /// finished and the process exits. Ctrl-c skips the delay.
    #[arg(long, env = "WS3_SHUTDOWN_DELAY", default_value = "3s", value_parser = parse_duration_or_zero)]
    pub shutdown_delay: Duration,

    /// Log filter (tracing `EnvFilter` syntax); falls back to `RUST_LOG`, then `info`.
    #[arg(long, env = "WS3_LOG")]
    pub log: Option<String>,
}

/// Like [`parse_duration`], but `0` (any unit) is accepted.
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let digits = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if digits.parse::<f64>().is_ok_and(|v| v == 0.0) {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
}

/// Parses `8s`, `2500ms`, `1.5s` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (use e.g. 8s or 500ms)"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("`{text}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("8s").unwrap(), Duration::from_secs(8));
        assert_eq!(
            parse_duration("2500ms").unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration_or_zero("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration_or_zero("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_duration_or_zero("3s").unwrap(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn every_flag_has_its_environment_variable() {
        use clap::CommandFactory;
        let cmd = Cli::command();
        let serve = cmd.find_subcommand("serve").unwrap();
        let env = |long: &str| {
            serve
                .get_arguments()
                .find(|a| a.get_long() == Some(long))
                .and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
        };
        for (flag, var) in [
            ("cert", "WS3_CERT"),
            ("key", "WS3_KEY"),
            ("client-ca", "WS3_CLIENT_CA"),
            ("addr", "WS3_ADDR"),
            ("health-addr", "WS3_HEALTH_ADDR"),
            ("config", "WS3_CONFIG"),
            ("kubeconfig", "KUBECONFIG"),
        ] {
            assert_eq!(env(flag).as_deref(), Some(var), "--{flag}");
        }
        cmd.debug_assert();
    }

    #[test]
    fn defaults() {
        let cli =
            Cli::try_parse_from(["ws3-webhook", "serve", "--cert", "c.pem", "--key", "k.pem"])
                .unwrap();
        let Command::Serve(args) = cli.command;
        assert_eq!(args.addr.to_string(), "0.0.0.0:8443");
        assert_eq!(args.health_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(args.request_timeout, Duration::from_secs(8));
        assert_eq!(args.rule_timeout, Duration::from_millis(500));
    }
}
