//! Command line: `ws3-webhook serve ...`. Every flag can also be set from the environment variable
//! named in its help (the Helm chart relies on these names).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::conn::ConnectionLimits;

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
    Serve(Box<ServeArgs>),
    /// Print, as JSON, what a ValidatingWebhookConfiguration must register for the rules in
    /// force (resources and operations), the kinds ws3 reviews and the operations judged on
    /// pod-template holders: what the Helm chart's `files/registration.json` holds.
    Registration(RegistrationArgs),
}

/// Flags of `registration`.
#[derive(Debug, Clone, Args)]
pub struct RegistrationArgs {
    /// The ws3 configuration file: its disabled rules, extra modules and `podTemplates` change
    /// the registration.
    #[arg(long, env = "WS3_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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

    /// Admission connections served at once. At the cap no connection is accepted until one
    /// closes: new ones wait in the listen backlog rather than being refused.
    #[arg(long, env = "WS3_MAX_CONNECTIONS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Time a client has to finish the TLS handshake.
    #[arg(long, env = "WS3_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Time a client has to send a request's headers, from its first byte (a new connection:
    /// from the handshake). The body then has the review deadline (`--request-timeout`).
    #[arg(long, env = "WS3_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// A keep-alive connection without a request in progress is closed after this long. Keep it
    /// above the API server's own idle timeout (90 s), so that the client closes idle
    /// connections first.
    #[arg(long, env = "WS3_IDLE_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Largest AdmissionReview body accepted (`3MiB`, `512KiB` or bytes); larger ones get 413.
    #[arg(long, env = "WS3_MAX_BODY", default_value = "3MiB", value_parser = parse_size)]
    pub max_body: usize,
}

impl ServeArgs {
    /// The admission port's connection limits these flags ask for.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self.max_connections as usize,
            handshake_timeout: self.handshake_timeout,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_body: self.max_body,
        }
    }
}

/// Like [`parse_duration`], but zero is accepted.
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    // A plain number is seconds.
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("`{text}` is not a duration (use e.g. 8s or 500ms)"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration (use e.g. 8s or 500ms): {e}"))
}

/// Parses `8s`, `2500ms`, `1.5s`, `1m 30s` (humantime's units) or a plain number of seconds;
/// zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(text)?;
    if duration.is_zero() {
        return Err(format!("`{}` must be a positive duration", text.trim()));
    }
    Ok(duration)
}

/// Parses a positive size in bytes: `3MiB`, `512KiB` (or `Mi`, `Ki`) or a plain number.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let shift = match unit.trim() {
        "" | "B" => 0,
        "Ki" | "KiB" => 10,
        "Mi" | "MiB" => 20,
        _ => {
            return Err(format!(
                "`{text}` is not a size (use e.g. 3MiB, 512KiB or bytes)"
            ));
        }
    };
    let bytes = number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a size (use e.g. 3MiB, 512KiB or bytes)"))?;
    if bytes == 0 {
        return Err(format!("`{text}` must be a positive size"));
    }
    Ok(bytes)
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
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert_eq!(parse_duration_or_zero("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration_or_zero("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_duration_or_zero("3s").unwrap(),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("3MiB").unwrap(), 3 << 20);
        assert_eq!(parse_size("512Ki").unwrap(), 512 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert!(parse_size("0").is_err());
        assert!(parse_size("3MB").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999999999MiB").is_err());
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
            ("max-connections", "WS3_MAX_CONNECTIONS"),
            ("handshake-timeout", "WS3_HANDSHAKE_TIMEOUT"),
            ("header-timeout", "WS3_HEADER_TIMEOUT"),
            ("idle-timeout", "WS3_IDLE_TIMEOUT"),
            ("max-body", "WS3_MAX_BODY"),
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
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(args.addr.to_string(), "0.0.0.0:8443");
        assert_eq!(args.health_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(args.request_timeout, Duration::from_secs(8));
        assert_eq!(args.rule_timeout, Duration::from_millis(500));
        assert_eq!(args.connection_limits(), ConnectionLimits::default());
    }

    #[test]
    fn connection_limits_follow_the_flags() {
        let cli = Cli::try_parse_from([
            "ws3-webhook",
            "serve",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
            "--max-connections",
            "8",
            "--handshake-timeout",
            "2s",
            "--header-timeout",
            "1500ms",
            "--idle-timeout",
            "5m",
            "--max-body",
            "1MiB",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(
            args.connection_limits(),
            ConnectionLimits {
                max_connections: 8,
                handshake_timeout: Duration::from_secs(2),
                header_timeout: Duration::from_millis(1500),
                idle_timeout: Duration::from_secs(300),
                max_body: 1 << 20,
            }
        );
        for bad in [["--max-connections", "0"], ["--max-body", "3MB"]] {
            let mut argv = vec!["ws3-webhook", "serve", "--cert", "c", "--key", "k"];
            argv.extend(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }
}
