//! What each command of the command line does: read the configuration, run the linter or list
//! and explain the rules, and write the report to the console's streams.

use std::{
    io::{Read, Write},
    path::PathBuf,
    time::Instant,
};

use ws3_engine::{Config, Severity};

use crate::{
    DEFAULT_NAMESPACE, Error, LintOptions, Linter, Notice, Problem, ProblemKind, Report, Status,
    cli::{Cli, Command, ExplainArgs, LintArgs, ListFormat, RuleArgs, RulesArgs},
    default_jobs, emit,
    emit::EmitOptions,
    input::{self, SourceFile},
};

/// Where the process's streams go, and whether they are terminals.
#[derive(Debug)]
pub struct Console<R, O, E> {
    /// Standard input (read for `-`).
    pub stdin: R,
    /// Standard output: the report.
    pub stdout: O,
    /// Standard error: problems, notices.
    pub stderr: E,
    /// Whether standard output is a terminal.
    pub stdout_is_terminal: bool,
    /// Whether standard error is a terminal.
    pub stderr_is_terminal: bool,
}

/// Whether to colour a stream: a terminal, no `--no-color`, and no non-empty `NO_COLOR`
/// (<https://no-color.org>).
fn use_color(no_color: bool, is_terminal: bool) -> bool {
    color_choice(
        no_color,
        is_terminal,
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

fn color_choice(no_color: bool, is_terminal: bool, no_color_env: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && !no_color && no_color_env.is_none_or(|v| v.is_empty())
}

/// Reads the configuration: `--config`, else `.ws3.yaml` found upward from the working directory.
fn load_config(args: &RuleArgs) -> Result<Config, Error> {
    if let Some(path) = &args.config {
        return Ok(Config::load(path)?);
    }
    let cwd = std::env::current_dir().map_err(Error::WorkingDirectory)?;
    match Config::discover(&cwd) {
        Some(path) => {
            // Show the path relative to the working directory, as the user would write it.
            let shown = path.strip_prefix(&cwd).map(PathBuf::from).unwrap_or(path);
            Ok(Config::load(&shown)?)
        }
        None => Ok(Config::default()),
    }
}

/// The configuration and the rules it and the flags put in force.
fn load_linter(args: &RuleArgs) -> Result<(Config, Linter), Error> {
    let config = load_config(args)?;
    let linter = Linter::load(&config, &args.modules, &args.disable, !args.no_cache)?;
    Ok((config, linter))
}

/// Runs the command line.
pub fn run<R: Read, O: Write, E: Write>(
    cli: &Cli,
    console: &mut Console<R, O, E>,
) -> Result<Status, Error> {
    match &cli.command {
        Some(Command::Rules(args)) => list_rules(args, &mut console.stdout),
        Some(Command::Explain(args)) => explain(args, &mut console.stdout),
        None => lint_command(&cli.lint, console),
    }
}

fn lint_command<R: Read, O: Write, E: Write>(
    args: &LintArgs,
    console: &mut Console<R, O, E>,
) -> Result<Status, Error> {
    let started = Instant::now();
    let jobs = args.jobs.map_or_else(default_jobs, usize::from);
    // The files are found and read (about 26 ms of 10,000 objects' 320) by the workers while
    // the rules load here (about 13 ms: the module cache read back): neither needs the other.
    // Here, not on a thread of their own, so that what the rules keep is allocated by the same
    // thread as when they loaded first. A configuration or rule error is still the run's only
    // answer, as when the rules loaded first. With standard input among the paths, nothing
    // overlaps: it is read only once the rules have loaded, so that such an error never waits
    // for input.
    let load =
        || load_linter(&args.rules).map(|(config, linter)| (config, linter, started.elapsed()));
    let (rules, found, (files, read_problems)) = if args.paths.iter().any(|p| p == "-") {
        let rules = load()?;
        let found = input::discover(&args.paths);
        let read = input::read_on(&found.inputs, &mut console.stdin, jobs);
        (Ok(rules), found, read)
    } else {
        input::discover_and_read_while(&args.paths, jobs, load)
    };
    let (config, linter, loaded) = rules?;
    let options = LintOptions {
        default_namespace: args
            .namespace
            .clone()
            .or_else(|| config.default_namespace.clone())
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        jobs,
    };
    let (context, context_notices) = context_files(args, &files, options.jobs)?;
    let mut report = linter.lint_with_context(files, context, &options);
    report
        .problems
        .splice(0..0, found.problems.into_iter().chain(read_problems));
    report
        .notices
        .splice(0..0, found.notices.into_iter().chain(context_notices));
    if report.problems.is_empty()
        && let Some(why) = nothing_checked(&report)
    {
        report.problems.push(Problem {
            kind: ProblemKind::NothingChecked,
            file: None,
            line: None,
            column: None,
            document: None,
            rule: None,
            message: why,
        });
    }
    let fail_on = Severity::from(args.fail_on);
    let emit_options = EmitOptions {
        color: use_color(args.no_color, console.stdout_is_terminal),
        show_suppressed: args.show_suppressed,
    };
    let stderr_color = use_color(args.no_color, console.stderr_is_terminal);
    emit::text::write_problems(&report, args.verbose, stderr_color, &mut console.stderr)
        .map_err(Error::Output)?;
    if args.verbose {
        let enabled = report.rules.iter().filter(|r| r.enabled).count();
        let _ = writeln!(
            console.stderr,
            "note: {} rules enabled of {}; {} files, {} objects, {} rule calls; rules loaded in {:.0?}, files read and parsed in {:.0?}, rules ran in {:.0?}, total {:.0?}",
            enabled,
            report.rules.len(),
            report.files.len(),
            report.objects.len(),
            report.calls,
            loaded,
            report.timings.load,
            report.timings.evaluate,
            started.elapsed()
        );
    }
    emit::emitter(args.format)
        .emit(&report, &emit_options, &mut console.stdout)
        .map_err(Error::Output)?;
    console.stdout.flush().map_err(Error::Output)?;
    let status = report.status(fail_on);
    // Freeing every object takes a while (some 15 ms of 10,000 objects): the answer does not wait
    // for it. A process that ends first never frees them, which is what the OS is for.
    std::thread::spawn(move || drop(report));
    Ok(status)
}

/// Why a run that found no problem still checked nothing, if it did: that is never a pass.
fn nothing_checked(report: &Report) -> Option<String> {
    if report.files.is_empty() {
        return Some(
            "nothing was checked: no YAML or JSON file was found in the paths given".into(),
        );
    }
    if report.objects.is_empty() {
        return Some(format!(
            "nothing was checked: {} read, but no Kubernetes object in {}",
            plural(report.files.len(), "file"),
            if report.files.len() == 1 {
                "it"
            } else {
                "them"
            }
        ));
    }
    if !report.rules.iter().any(|r| r.enabled) {
        return Some(format!(
            "nothing was checked: all {} rules are disabled (`disable:` in the configuration or --disable)",
            report.rules.len()
        ));
    }
    None
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The files read for lookups only: `--context` paths, and with `--git-context` every YAML and
/// JSON file git tracks in the repository of the working directory; the files being linted are
/// left out. Context files are best effort: one that cannot be read or parsed only costs a
/// notice, since it was not given to be judged.
fn context_files(
    args: &LintArgs,
    judged: &[SourceFile],
    jobs: usize,
) -> Result<(Vec<SourceFile>, Vec<Notice>), Error> {
    let mut paths = args.context.clone();
    if args.git_context {
        paths.extend(git_tracked_manifests()?);
    }
    if paths.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let judged: std::collections::HashSet<PathBuf> = judged
        .iter()
        .filter_map(|f| canonical(std::path::Path::new(&f.name)))
        .collect();
    let found = input::discover(&paths);
    let inputs: Vec<input::Input> = found
        .inputs
        .into_iter()
        .filter(|i| match i {
            input::Input::File(p) => canonical(p).is_none_or(|c| !judged.contains(&c)),
            input::Input::Stdin => false,
        })
        .collect();
    let (files, problems) = input::read_on(&inputs, &mut std::io::empty(), jobs);
    let mut notices = found.notices;
    notices.extend(problems.into_iter().map(|p| Notice {
        file: p.file,
        document: p.document,
        message: format!("context file skipped: {}", p.message),
    }));
    notices.extend(found.problems.into_iter().map(|p| Notice {
        file: p.file,
        document: p.document,
        message: format!("context path skipped: {}", p.message),
    }));
    Ok((files, notices))
}

/// Every `*.yaml`, `*.yml` and `*.json` file in git's index for the repository of the working
/// directory, as paths relative to it.
fn git_tracked_manifests() -> Result<Vec<PathBuf>, Error> {
    let output = std::process::Command::new("git")
        .args(["ls-files", "-z", "--cached", "--full-name", ":/"])
        .output()
        .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    if !output.status.success() {
        return Err(Error::Git(format!(
            "`git ls-files` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let top = std::process::Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| Error::Git(format!("cannot run git: {e}")))?;
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    Ok(output
        .stdout
        .split(|b| *b == 0)
        .filter_map(|name| std::str::from_utf8(name).ok())
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json")
        })
        .map(|name| top.join(name))
        .filter(|path| path.is_file())
        .collect())
}

fn list_rules<O: Write>(args: &RulesArgs, out: &mut O) -> Result<Status, Error> {
    let (_, linter) = load_linter(&args.rules)?;
    let infos = linter.rule_infos();
    match args.format {
        ListFormat::Json => emit::json::write_rules(&infos, out),
        ListFormat::Text => emit::text::write_rules(&infos, out),
    }
    .map_err(Error::Output)?;
    Ok(Status::Clean)
}

fn explain<O: Write>(args: &ExplainArgs, out: &mut O) -> Result<Status, Error> {
    let config = load_config(&args.rules)?;
    let linter = Linter::load(&config, &args.rules.modules, &[], !args.rules.no_cache)?;
    let infos = linter.rule_infos();
    let Some(rule) = infos
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(args.id.trim()))
    else {
        let known = infos
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::UnknownRule {
            id: args.id.clone(),
            known: if known.is_empty() {
                "none loaded".into()
            } else {
                known
            },
        });
    };
    emit::text::write_explanation(rule, out).map_err(Error::Output)?;
    Ok(Status::Clean)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::color_choice;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(color_choice(false, true, None));
        assert!(color_choice(false, true, Some(OsStr::new(""))));
        assert!(!color_choice(false, true, Some(OsStr::new("1"))));
        assert!(!color_choice(true, true, None));
        assert!(!color_choice(false, false, None));
    }
}
