//! Throughput of the whole lint pipeline: through the library API (discover and read files,
//! parse, build objects and the index, run the built-in rules, locate findings, and format the
//! report, text and JSON, to a sink), and end to end through the `ws3-lint` binary with JSON
//! output, the measure of the targets (documents/s, peak RSS against the input, scaling by 10x
//! steps), each run a process of its own whose peak RSS the kernel reports.
//!
//! The corpus: 10,000 documents in 100 namespaces, 2,000 files of one app each (a StatefulSet,
//! its Service, a ConfigMap, a Deployment, and a NetworkPolicy or a second Service), some of
//! them with the problems the rules look for. Run with `cargo bench -p ws3-lint --bench lint`;
//! `WS3_BENCH_RULES=<dir>` adds rule modules (as `--rules` would).

#![allow(
    clippy::unwrap_used,
    reason = "a test or benchmark that cannot go on panics with the error"
)]

mod measure;

use std::{
    fmt::Write as _,
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use ws3_engine::Config;
use ws3_lint::{
    LintOptions, Linter, Report,
    cli::Format,
    emit::{self, EmitOptions},
    input,
};

const NAMESPACES: usize = 100;
const APPS_PER_NAMESPACE: usize = 20;
const DOCS_PER_APP: usize = 5;
/// Measured runs per configuration (after one warm-up run).
const RUNS: u32 = 3;

fn statefulset(ns: &str, app: &str, i: usize) -> String {
    let volume = if i.is_multiple_of(4) {
        "      volumes:\n        - name: data\n          emptyDir: {}\n".to_owned()
    } else {
        String::new()
    };
    let claims = if i.is_multiple_of(4) {
        String::new()
    } else {
        "  volumeClaimTemplates:\n    - metadata:\n        name: data\n      spec:\n        accessModes: [\"ReadWriteOnce\"]\n        resources:\n          requests:\n            storage: 1Gi\n".to_owned()
    };
    let password_from = if i.is_multiple_of(3) {
        "configMapKeyRef"
    } else {
        "secretKeyRef"
    };
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {app}-db
  namespace: {ns}
  labels:
    app: {app}-db
    tier: database
spec:
  serviceName: {app}-db-headless
  replicas: 3
  selector:
    matchLabels:
      app: {app}-db
  template:
    metadata:
      labels:
        app: {app}-db
    spec:
{volume}      containers:
        - name: postgres
          image: postgres:16.{i}
          ports:
            - containerPort: 5432
              name: postgres
          env:
            - name: POSTGRES_USER
              valueFrom:
                configMapKeyRef:
                  name: {app}-config
                  key: POSTGRES_USER
            - name: POSTGRES_PASSWORD
              valueFrom:
                {password_from}:
                  name: {app}-config
                  key: POSTGRES_PASSWORD
          resources:
            requests:
              cpu: 250m
              memory: 512Mi
          volumeMounts:
            - name: data
              mountPath: /var/lib/postgresql/data
{claims}"
    )
}

fn service(ns: &str, name: &str, app: &str, headless: bool, port: u16) -> String {
    let cluster_ip = if headless {
        "  clusterIP: None\n"
    } else {
        "  type: ClusterIP\n"
    };
    format!(
        "apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels:
    app: {app}
spec:
{cluster_ip}  selector:
    app: {app}
  ports:
    - name: main
      protocol: TCP
      port: {port}
      targetPort: {port}
"
    )
}

fn configmap(ns: &str, app: &str, i: usize) -> String {
    let password = if i.is_multiple_of(3) {
        "  POSTGRES_PASSWORD: hunter2\n"
    } else {
        ""
    };
    format!(
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: {app}-config
  namespace: {ns}
data:
  POSTGRES_USER: {app}
  POSTGRES_DB: {app}
{password}  LOG_LEVEL: info
  app.properties: |
    server.port=8080
    feature.flags=a,b,c
"
    )
}

fn deployment(ns: &str, app: &str, i: usize) -> String {
    let url = if i.is_multiple_of(5) {
        format!("postgresql://{app}:secret@{app}-db:5432/{app}")
    } else {
        format!("postgresql://{app}@{app}-db:5432/{app}")
    };
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}-api
  namespace: {ns}
  annotations:
    team: payments
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {app}-api
  template:
    metadata:
      labels:
        app: {app}-api
    spec:
      containers:
        - name: api
          image: registry.example.com/{app}:1.{i}.0
          ports:
            - containerPort: 8080
          env:
            - name: DATABASE_URL
              value: {url}
            - name: LOG_LEVEL
              valueFrom:
                configMapKeyRef:
                  name: {app}-config
                  key: LOG_LEVEL
          readinessProbe:
            httpGet:
              path: /healthz
              port: 8080
"
    )
}

fn network_policy(ns: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: {ns}
spec:
  podSelector: {{}}
  policyTypes:
    - Ingress
    - Egress
"
    )
}

/// Writes the corpus of `namespaces` namespaces; returns the number of documents.
fn generate(dir: &Path, namespaces: usize) -> usize {
    let mut docs = 0;
    for n in 0..namespaces {
        let ns = format!("team-{n:03}");
        let ns_dir = dir.join(&ns);
        fs::create_dir_all(&ns_dir).unwrap();
        for a in 0..APPS_PER_NAMESPACE {
            let i = n * APPS_PER_NAMESPACE + a;
            let app = format!("app{a:02}");
            let mut text = String::new();
            let fifth = if a == 0 && n.is_multiple_of(2) {
                network_policy(&ns)
            } else {
                service(
                    &ns,
                    &format!("{app}-api"),
                    &format!("{app}-api"),
                    false,
                    8080,
                )
            };
            for doc in [
                statefulset(&ns, &app, i),
                service(
                    &ns,
                    &format!("{app}-db-headless"),
                    &format!("{app}-db"),
                    true,
                    5432,
                ),
                configmap(&ns, &app, i),
                deployment(&ns, &app, i),
                fifth,
            ] {
                let _ = write!(text, "---\n{doc}");
                docs += 1;
            }
            fs::write(ns_dir.join(format!("{app}.yaml")), text).unwrap();
        }
    }
    assert_eq!(docs, namespaces * APPS_PER_NAMESPACE * DOCS_PER_APP);
    docs
}

/// Bytes of all files under `dir`.
fn input_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            input_bytes(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// A Deployment in `ns` loading the ConfigMap `config` whole with envFrom.
fn env_from_deployment(ns: &str, name: &str, config: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: api
          image: example/api:1
          envFrom:
            - configMapRef:
                name: {config}
"
    )
}

/// A NetworkPolicy that selects one app: not a default deny, so every workload of the
/// namespace makes the rule look at all of them.
fn app_policy(ns: &str, i: usize) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-{i}
  namespace: {ns}
spec:
  podSelector:
    matchLabels:
      app: app{i}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector: {{}}
"
    )
}

/// The cases a rule that re-read its lookups for every workload made quadratic: `n`
/// NetworkPolicies and `n` workloads in one namespace, and one large ConfigMap loaded by a
/// thousand workloads. Each must cost about what linting the documents costs.
fn lookups(linter: &Linter) {
    for n in [3_000, 10_000] {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for i in 0..n {
            let _ = write!(text, "---\n{}", app_policy("crowded", i));
            let _ = write!(
                text,
                "---\n{}",
                env_from_deployment("crowded", &format!("app{i}"), "none")
            );
        }
        fs::write(dir.path().join("crowded.yaml"), text).unwrap();
        let (report, elapsed) = run(linter, dir.path(), 1);
        println!(
            "lookups: {n} NetworkPolicies x {n} workloads in one namespace: {elapsed:.0?} ({} findings)",
            report.diagnostics.len()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: shop\ndata:\n  POSTGRES_PASSWORD: hunter2hunter2\n",
    );
    let mut i = 0;
    while text.len() < 1 << 20 {
        let _ = writeln!(text, "  SETTING_{i}: \"{}\"", "x".repeat(100));
        i += 1;
    }
    for d in 0..1_000 {
        let _ = write!(
            text,
            "---\n{}",
            env_from_deployment("shop", &format!("api{d}"), "big")
        );
    }
    fs::write(dir.path().join("shop.yaml"), text).unwrap();
    let (report, elapsed) = run(linter, dir.path(), 1);
    println!(
        "lookups: one 1 MiB ConfigMap loaded with envFrom by 1,000 Deployments: {elapsed:.0?} ({} findings)",
        report.diagnostics.len()
    );
}

/// What the pre-commit hook costs once installed: `ws3-lint --git-context <file>` (the hooks'
/// entry) run by path, as pre-commit runs it, in a git repository of 1,000 manifest files
/// (5,000 documents, every one of them context for the lookups) where one file is edited and
/// staged. Prints the first run and the best of three warm ones (target: under 1 s).
fn hook_repository() {
    let repo = tempfile::tempdir().unwrap();
    let docs = generate(repo.path(), 1_000 / APPS_PER_NAMESPACE);
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@example.invalid",
            ])
            .args(args)
            .current_dir(repo.path())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet"]);
    git(&["add", "--all"]);
    git(&["commit", "--quiet", "--message", "corpus"]);
    let staged = "team-000/app00.yaml";
    let path = repo.path().join(staged);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("replicas: 3", "replicas: 2", 1)).unwrap();
    git(&["add", staged]);
    let hook = || {
        let started = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ws3-lint"))
            .args(["--git-context", staged])
            .current_dir(repo.path())
            .output()
            .expect("ws3-lint runs");
        // 0: clean, 1: findings; anything else is a failure of the run.
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "ws3-lint --git-context failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed()
    };
    let first = hook();
    let warm = (0..3).map(|_| hook()).min().unwrap();
    println!(
        "pre-commit hook: `ws3-lint --git-context` on 1 staged file of a 1,000-file repository ({docs} documents as context): first run {first:.0?}, warm {warm:.0?}"
    );
}

/// How much faster a fixed CPU-bound job runs on `threads` threads than on one, right now: on
/// an idle machine about the number of cores, less when other processes compete.
fn available_speedup(threads: usize) -> f64 {
    use measure::{ROUNDS, spin};
    let one = measure::calibration();
    println!(
        "calibration: a fixed native workload (200M xorshift rounds) took {:.0?} on one thread",
        one
    );
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| std::hint::black_box(spin(ROUNDS / threads as u64)));
        }
    });
    one.as_secs_f64() / t.elapsed().as_secs_f64()
}

/// Peak resident set size of this process so far, in MiB.
fn peak_rss_mib() -> f64 {
    measure::status_kib("self", "VmHWM:") as f64 / 1024.0
}

/// One full run: read, lint, format.
fn run(linter: &Linter, root: &Path, jobs: usize) -> (Report, Duration) {
    let start = Instant::now();
    let found = input::discover(&[root.to_path_buf()]);
    let (files, problems) = input::read(&found.inputs, &mut io::empty());
    assert!(problems.is_empty(), "{problems:?}");
    let report = linter.lint(
        files,
        &LintOptions {
            jobs,
            ..LintOptions::default()
        },
    );
    let options = EmitOptions::default();
    for format in [Format::Text, Format::Json] {
        emit::emitter(format)
            .emit(&report, &options, &mut io::sink())
            .unwrap();
    }
    (report, start.elapsed())
}

/// Single-threaded cost of the stages before the rules, best of three.
fn phases(root: &Path, docs: usize) {
    let best = |f: &mut dyn FnMut()| {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let mut found = input::discover(&[root.to_path_buf()]);
    let discover = best(&mut || found = input::discover(&[root.to_path_buf()]));
    let mut files = Vec::new();
    let read = best(&mut || files = input::read(&found.inputs, &mut io::empty()).0);
    let parse = best(&mut || {
        for f in &files {
            std::hint::black_box(ws3_lint::yaml::parse_stream(&f.text));
        }
    });
    let objects = best(&mut || {
        for (i, f) in files.iter().enumerate() {
            let stream = ws3_lint::yaml::parse_stream(&f.text);
            std::hint::black_box(ws3_lint::objects::file_objects(i, f, stream.documents));
        }
    });
    let per_doc = |d: Duration| d.as_secs_f64() * 1e6 / docs as f64;
    println!(
        "stages, 1 thread: discover {:.0?}, read {:.0?}, parse {:.0?} ({:.1} µs/doc), parse + objects and JSON {:.0?} ({:.1} µs/doc)",
        discover,
        read,
        parse,
        per_doc(parse),
        objects,
        per_doc(objects)
    );
}

/// The cost of each rule alone, on one worker.
fn per_rule(root: &Path, extra: &[PathBuf], rules: &[String]) {
    for rule in rules {
        let others: Vec<String> = rules.iter().filter(|r| *r != rule).cloned().collect();
        let linter =
            Linter::load(&Config::default(), extra, &others, true).expect("the rules load");
        let _ = run(&linter, root, 1);
        let (report, _) = run(&linter, root, 1);
        let t = report.timings.evaluate;
        println!(
            "  {rule}: {} calls, {:.0?}, {:.1} µs/call",
            report.calls,
            t,
            t.as_secs_f64() * 1e6 / report.calls.max(1) as f64
        );
    }
}

fn main() {
    if std::env::var_os(LAUNCHER).is_some() {
        launcher();
        return;
    }
    // `cargo bench` passes `--bench`; nothing to configure. `WS3_BENCH_WRITE_CORPUS=<dir>` only
    // writes the corpus there (`WS3_BENCH_DOCS` documents, default 10,000), to profile the CLI
    // on it.
    if let Some(out) = std::env::var_os("WS3_BENCH_WRITE_CORPUS") {
        let want: usize = std::env::var("WS3_BENCH_DOCS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(NAMESPACES * APPS_PER_NAMESPACE * DOCS_PER_APP);
        let docs = generate(Path::new(&out), want / (APPS_PER_NAMESPACE * DOCS_PER_APP));
        println!("wrote {docs} documents to {}", Path::new(&out).display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let docs = generate(dir.path(), NAMESPACES);
    let bytes = input_bytes(dir.path());
    let extra: Vec<PathBuf> = std::env::var_os("WS3_BENCH_RULES")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    let started = Instant::now();
    let linter = Linter::load(&Config::default(), &extra, &[], true).expect("the rules load");
    let rules: Vec<String> = linter
        .rule_infos()
        .into_iter()
        .filter(|r| r.enabled)
        .map(|r| r.id)
        .collect();
    println!(
        "corpus: {docs} documents in {NAMESPACES} namespaces, {} files",
        NAMESPACES * APPS_PER_NAMESPACE
    );
    println!(
        "rules: {} ({}), loaded in {:.0?}",
        rules.len(),
        rules.join(", "),
        started.elapsed()
    );
    phases(dir.path(), docs);
    per_rule(dir.path(), &extra, &rules);
    let cores = ws3_lint::default_jobs();
    let mut counts = Vec::new();
    println!(
        "machine now: {cores} cores, {:.2}x speedup of a CPU-bound job on {cores} threads",
        available_speedup(cores)
    );
    for jobs in [1, cores] {
        // One warm-up run (instances, caches), then the best of the measured runs.
        let _ = run(&linter, dir.path(), jobs);
        let mut best = Duration::MAX;
        let mut last = None;
        let cpu_start = measure::cpu_time("self");
        for _ in 0..RUNS {
            drop(last.take());
            let (report, elapsed) = run(&linter, dir.path(), jobs);
            best = best.min(elapsed);
            last = Some(report);
        }
        let cpu = (measure::cpu_time("self") - cpu_start) / RUNS;
        let report = last.expect("ran");
        let t = report.timings;
        let c = report.counts();
        counts.push((c.errors, c.warnings, c.infos));
        println!(
            "jobs {jobs}: {:>6.0} documents/s ({:.0?} for {docs}: parse {:.0?}, rules {:.0?}, report {:.0?}); CPU {:.0?} per run, {:.0} documents per CPU-second; {} objects, {} rule calls, {} findings, {} errors; this bench process's peak RSS so far {:.0} MiB ({:.1}x the {:.1} MiB input; the CLI line below is one run's own)",
            docs as f64 / best.as_secs_f64(),
            best,
            t.load,
            t.evaluate,
            t.report,
            cpu,
            docs as f64 / cpu.as_secs_f64(),
            report.objects.len(),
            report.calls,
            report.diagnostics.len(),
            report.problems.len(),
            peak_rss_mib(),
            peak_rss_mib() * 1_048_576.0 / bytes as f64,
            bytes as f64 / 1_048_576.0,
        );
    }
    assert!(
        counts.windows(2).all(|w| w[0] == w[1]),
        "the same findings whatever the number of workers"
    );
    cli(dir.path(), docs, bytes);
    lookups(&linter);
    hook_repository();
    scaling();
    println!(
        "machine after: {:.2}x speedup on {cores} threads",
        available_speedup(cores)
    );
}

/// One run of the `ws3-lint` binary over `dir` with JSON output (to /dev/null), as a user runs
/// it: its wall-clock time and peak RSS in MiB.
///
/// The run is started by this bench executable re-executed as a launcher ([`launcher`]): the
/// kernel counts the memory of the process a child is spawned from into the child's peak, and
/// this process holds far more than the launcher.
fn cli_run(dir: &Path) -> (Duration, f64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(LAUNCHER, "1")
        .args([env!("CARGO_BIN_EXE_ws3-lint"), "--format", "json"])
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the launcher runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<u64> = text
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [code, nanos, peak_kib] = figures[..] else {
        panic!("the launcher printed {text:?} ({})", out.status);
    };
    // 0: clean, 1: findings; anything else is a failure of the run.
    assert!(code <= 1, "ws3-lint failed with exit status {code}");
    (Duration::from_nanos(nanos), peak_kib as f64 / 1024.0)
}

/// Runs of each size of [`scaling`].
const SCALING_RUNS: usize = 2;

/// Set in the environment of the bench re-executed as a launcher.
const LAUNCHER: &str = "WS3_BENCH_LAUNCHER";

/// The launcher: runs its arguments as a command (output to /dev/null) and prints its exit
/// code, its wall-clock time in nanoseconds and its peak RSS in KiB.
fn launcher() {
    let mut args = std::env::args_os().skip(1);
    let program = args.next().expect("a command");
    let (status, elapsed, peak_kib) = measure::run_measured(
        std::process::Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null()),
    )
    .expect("the command runs");
    println!(
        "{} {} {peak_kib}",
        status.code().map_or(255, |c| c.clamp(0, 255)),
        elapsed.as_nanos()
    );
}

/// The targets' measure: the CLI end to end (start, load the rules, read, lint, write JSON) on
/// the corpus, one warm-up run and the best of [`RUNS`], with the peak RSS of each run.
fn cli(dir: &Path, docs: usize, bytes: u64) {
    let _ = cli_run(dir);
    let runs: Vec<(Duration, f64)> = (0..RUNS).map(|_| cli_run(dir)).collect();
    let best = runs.iter().map(|r| r.0).min().unwrap();
    let (low, high) = runs
        .iter()
        .fold((f64::MAX, 0.0_f64), |(l, h), r| (l.min(r.1), h.max(r.1)));
    let input = bytes as f64 / 1_048_576.0;
    println!(
        "CLI end to end (`ws3-lint --format json`, default workers): {:>6.0} documents/s ({best:.0?} for {docs}); peak RSS {low:.0}-{high:.0} MiB ({:.1}-{:.1}x the {input:.1} MiB input)",
        docs as f64 / best.as_secs_f64(),
        low / input,
        high / input,
    );
}

/// The CLI over 10x, 100x... the corpus's namespaces, up to `WS3_BENCH_MAX_DOCS` documents
/// (default 100,000; 1,000,000 takes minutes and gigabytes of disk): the time and peak RSS of
/// one process per size (the faster of [`SCALING_RUNS`], and the higher peak), and each as a
/// multiple of the previous step's. The corpus is flushed to disk before it is read: the kernel
/// writing back half a gigabyte of a corpus just written made a million-document run 20-25%
/// slower.
fn scaling() {
    let max: usize = std::env::var("WS3_BENCH_MAX_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut previous: Option<(Duration, f64)> = None;
    let mut namespaces = NAMESPACES;
    while namespaces * APPS_PER_NAMESPACE * DOCS_PER_APP <= max {
        let dir = tempfile::tempdir().unwrap();
        let docs = generate(dir.path(), namespaces);
        let _ = std::process::Command::new("sync").status();
        let runs: Vec<(Duration, f64)> = (0..SCALING_RUNS).map(|_| cli_run(dir.path())).collect();
        let elapsed = runs.iter().map(|r| r.0).min().unwrap();
        let peak = runs.iter().map(|r| r.1).fold(0.0_f64, f64::max);
        let input = input_bytes(dir.path()) as f64 / 1_048_576.0;
        println!(
            "scaling (CLI): {docs} documents ({input:.0} MiB) in {elapsed:.2?}, peak RSS {peak:.0} MiB ({:.1}x the input){}",
            peak / input,
            previous.map_or(String::new(), |(t, m)| format!(
                "; {:.2}x the time and {:.2}x the memory of the previous step",
                elapsed.as_secs_f64() / t.as_secs_f64(),
                peak / m
            )),
        );
        previous = Some((elapsed, peak));
        namespaces *= 10;
    }
}
