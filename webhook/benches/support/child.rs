//! The server under a bench, as a child process of the bench binary (the same binary, told by an
//! environment variable to serve), so that its CPU time, RSS and file descriptors are its own:
//! shared by `load.rs` and `soak.rs`, which also include `tests/benches/measure.rs` as `measure`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use ws3_webhook::{ClusterContext, ServeOptions, Server};

/// In the child: serves with what `setup` returns (called inside the runtime, so it may build a
/// kube client), prints `<addr> <health addr>` on stdout, then logs one JSON line per decision as
/// `ws3-webhook serve` does in a pod, until SIGTERM.
pub fn serve(setup: impl FnOnce() -> (ServeOptions, ClusterContext)) {
    let _logs = ws3_webhook::logging::init("info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (options, context) = setup();
        let server = Server::bind(options, context).await.unwrap();
        println!("{} {}", server.local_addr(), server.health_addr());
        server
            .run(async {
                ws3_webhook::shutdown_signal().await;
            })
            .await
            .unwrap();
    });
}

/// The running child, killed when dropped.
pub struct ServerChild {
    child: Child,
    pub addr: SocketAddr,
    pub health: SocketAddr,
    /// From the spawn to the first `200` of `/readyz`.
    pub ready_after: Duration,
    /// JSON log lines the server has written so far.
    pub log_lines: Arc<AtomicU64>,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerChild {
    /// Starts this bench binary again with `env` (which must make it call [`serve`]) and waits
    /// until `/readyz` answers 200, at most `ready_within`.
    pub async fn spawn<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        env: impl IntoIterator<Item = (K, V)>,
        ready_within: Duration,
    ) -> Self {
        let started = Instant::now();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Its addresses, then its log lines, read and counted as a container runtime would read
        // them.
        let (addresses, line) = tokio::sync::oneshot::channel();
        let log_lines = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&log_lines);
        std::thread::spawn(move || {
            let mut addresses = Some(addresses);
            for line in BufReader::with_capacity(1 << 16, stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with('{') {
                    counter.fetch_add(1, Ordering::Relaxed);
                } else if let Some(tx) = addresses.take() {
                    let _ = tx.send(line);
                }
            }
        });
        let line = line.await.unwrap();
        let mut parts = line.split_whitespace();
        let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
        let health: SocketAddr = parts.next().unwrap().parse().unwrap();
        let deadline = Instant::now() + ready_within;
        while !ready(health).await {
            assert!(
                Instant::now() < deadline,
                "server not ready in {ready_within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Self {
            child,
            addr,
            health,
            ready_after: started.elapsed(),
            log_lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        crate::measure::cpu_time(self.pid())
    }

    /// A `/proc/<pid>/status` figure of the server in KiB (`VmRSS:`, `VmHWM:`).
    pub fn status_kib(&self, field: &str) -> u64 {
        crate::measure::status_kib(self.pid(), field)
    }
}

async fn ready(health: SocketAddr) -> bool {
    match tokio::net::TcpStream::connect(health).await {
        Ok(_) => crate::common::http_get(health, "/readyz").await.0 == 200,
        Err(_) => false,
    }
}
