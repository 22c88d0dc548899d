//! Project automation, run as `cargo xtask <task>`:
//!
//! - `ci`: everything CI checks: formatting, clippy (warnings denied), all tests (then how many
//!   tests skipped themselves and why), docs (warnings denied), and a build and a run of every
//!   example;
//! - `interop`: installs the official Python SDK in a venv and runs our interoperability tests
//!   against it;
//! - `fuzz [--seconds N] [--min-executions N]`: runs every fuzz target for a bounded time (default
//!   60 s each) and fails on a crash or when all targets together ran fewer than a million inputs;
//! - `bench`: our SDK side by side with the official Python SDK on one local server; `bench
//!   --server [--million] [--seconds N]`: the server under load against a bare hyper ceiling
//!   (see `bench.rs`); both write their tables into `docs/performance.md`.
//!
//! Each step prints the command it runs; the first failure stops the task with a non-zero exit.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

mod bench;

/// The official SDK release our interop tests compare against.
const OFFICIAL_SDK: &str = "incountry==4.1.0";
/// The official SDK 4.1.0 needs pydantic 1.
const OFFICIAL_SDK_PYDANTIC: &str = "pydantic<2";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("interop") => interop(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("soak") => bench::soak(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 ci        fmt check, clippy, tests, docs and examples, as CI runs them\n  \
                 interop   tests against the official Python SDK (installed in a venv), then\n            \
                 schemathesis fuzzing incountry serve from its /openapi.json\n  \
                 fuzz      run every fuzz target [--seconds N per target] [--min-executions N]\n  \
                 bench     our SDK against the official one [--migrate-seed official|ours]\n            \
                 or, with --server, the server under load [--million] [--seconds N per cell]\n            \
                 [--server-bin PATH: serve with a prebuilt incountry binary]\n            \
                 (tables go into docs/performance.md unless --no-docs)\n  \
                 soak      8 SDK clients, mixed operations against incountry serve for 60 s,\n            \
                 then every acknowledged write is read back [--seconds N] [--clients N]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs `command`, echoing it first; fails when it cannot start or exits non-zero.
fn run(step: &str, command: &mut Command) -> Result {
    eprintln!("==> {step}: {command:?}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{step}: cannot start {command:?}: {e}"))?;
    eprintln!("<== {step}: {status} in {:.1?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// The variable naming the file skipped tests append a line to (as in `incountry-test-support`).
const SKIP_LOG_VAR: &str = "INCOUNTRY_TEST_SKIP_LOG";

/// Cargo's target directory: `$CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

/// Prints how many tests skipped themselves and why, from the skip log the test run wrote.
/// Tests marked `#[ignore]` are not in the log; nextest's summary counts them as "skipped".
fn report_skips(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in summarize_skips(&text) {
        eprintln!("{line}");
    }
    eprintln!(
        "(tests marked #[ignore] are counted as \"skipped\" in the test summary above; \
         `cargo xtask interop` runs them)"
    );
}

/// The report for a skip log whose lines read `SKIPPED (<reason>): <test>`: a total, then one
/// line per reason with its count and tests.
fn summarize_skips(log: &str) -> Vec<String> {
    let mut by_reason: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let (reason, test) = line
            .strip_prefix("SKIPPED (")
            .and_then(|rest| rest.split_once("): "))
            .unwrap_or(("unknown reason", line));
        by_reason.entry(reason).or_default().push(test);
    }
    let total: usize = by_reason.values().map(Vec::len).sum();
    let mut report = vec![format!(
        "{total} test{} skipped themselves{}",
        if total == 1 { "" } else { "s" },
        if total == 0 { "" } else { ":" }
    )];
    for (reason, mut tests) in by_reason {
        tests.sort_unstable();
        report.push(format!(
            "  {} ({reason}): {}",
            tests.len(),
            tests.join(", ")
        ));
    }
    report
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ci() -> Result {
    run("format", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // PostgreSQL tests that skip append a line to this log (see
    // `incountry_test_support::postgres`); the run reports them after the tests.
    let skip_log = target_dir().join("test-skips.log");
    match std::fs::remove_file(&skip_log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot remove {}: {e}", skip_log.display()));
        }
        _ => {}
    }
    let tests = if has_nextest() {
        run(
            "tests",
            cargo()
                .args(["nextest", "run", "--workspace", "--no-fail-fast"])
                .env(SKIP_LOG_VAR, &skip_log),
        )
    } else {
        eprintln!("cargo-nextest is not installed; running the tests with cargo test");
        run(
            "tests",
            cargo()
                .args(["test", "--workspace", "--no-fail-fast"])
                .env(SKIP_LOG_VAR, &skip_log),
        )
    };
    report_skips(&skip_log);
    tests?;
    run("doctests", cargo().args(["test", "--workspace", "--doc"]))?;
    run(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    run(
        "examples",
        cargo().args(["build", "--workspace", "--examples"]),
    )?;
    // The command line without its server part builds, and without sqlx or axum.
    run(
        "cli without the server",
        cargo().args(["build", "-p", "incountry-cli", "--no-default-features"]),
    )?;
    let tree = cargo()
        .args([
            "tree",
            "-p",
            "incountry-cli",
            "--no-default-features",
            "-e",
            "normal",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    let tree = String::from_utf8_lossy(&tree.stdout);
    if let Some(line) = tree
        .lines()
        .find(|line| line.contains("sqlx") || line.contains("axum"))
    {
        return Err(format!(
            "incountry-cli without the server still links {}",
            line.trim()
        ));
    }
    run_examples()
}

/// How long one example may run before it counts as hung.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs every example under `examples/` (they need nothing but this machine: examples that
/// talk to a server start an embedded one) and fails if one fails or hangs.
fn run_examples() -> Result {
    let mut names: Vec<String> = std::fs::read_dir(root().join("examples"))
        .map_err(|e| format!("cannot list examples: {e}"))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    for name in &names {
        let mut command = cargo();
        command
            .args(["run", "--quiet", "--example", name])
            // Examples honour INC_* variables; run them against their embedded server.
            .env_remove("INC_ENDPOINT")
            .stdout(Stdio::null());
        eprintln!("==> example {name}: {command:?}");
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run example {name}: {e}"))?;
        let status = wait_bounded(
            &format!("example {name}"),
            &mut child,
            started,
            EXAMPLE_TIMEOUT,
        )?;
        eprintln!("<== example {name}: {status} in {:.1?}", started.elapsed());
        if !status.success() {
            return Err(format!("example {name} failed ({status})"));
        }
    }
    Ok(())
}

/// Waits for `child`, started at `started`; kills and reaps it once `timeout` has passed.
fn wait_bounded(
    step: &str,
    child: &mut std::process::Child,
    started: Instant,
    timeout: Duration,
) -> Result<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{step} did not finish within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Creates (once) a venv under `target/` with the official Python SDK and returns its python.
fn official_sdk_venv() -> Result<PathBuf> {
    let venv = root().join("target").join("interop-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let system_python = env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(
            "venv",
            Command::new(system_python).args(["-m", "venv"]).arg(&venv),
        )?;
    }
    run(
        "official SDK",
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            OFFICIAL_SDK_PYDANTIC,
            OFFICIAL_SDK,
        ]),
    )?;
    Ok(python)
}

fn interop() -> Result {
    let python = official_sdk_venv()?;
    // Every crate's `tests/interop.rs`; `--workspace` keeps the feature set of the main test
    // build, so nothing is recompiled.
    run(
        "interop tests",
        cargo()
            .args([
                "test",
                "--workspace",
                "--test",
                "interop",
                "--",
                "--ignored",
            ])
            .env("INCOUNTRY_INTEROP_PYTHON", &python),
    )?;
    bench::api_fuzz()
}

/// Parses `--name value` from `args`.
fn flag(args: &[String], name: &str, default: u64) -> Result<u64> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number")),
    }
}

fn fuzz(args: &[String]) -> Result {
    let seconds = flag(args, "--seconds", 60)?;
    let min_executions = flag(args, "--min-executions", 1_000_000)?;
    let fuzz_dir = root().join("fuzz");
    let has_cargo_fuzz = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cargo_fuzz {
        run(
            "install cargo-fuzz",
            cargo().args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    let mut targets: Vec<String> = std::fs::read_dir(fuzz_dir.join("fuzz_targets"))
        .map_err(|e| format!("cannot list fuzz targets: {e}"))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    targets.sort();
    let mut total = 0u64;
    for target in &targets {
        let max_time = format!("-max_total_time={seconds}");
        // New inputs go to a working corpus that persists between runs (under the ignored
        // fuzz/target/); the committed seeds in fuzz/corpus/<target> are read, never grown.
        let working = fuzz_dir.join("target").join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&working)
            .map_err(|e| format!("cannot create {}: {e}", working.display()))?;
        let mut command = cargo();
        command
            .current_dir(&fuzz_dir)
            // cargo-fuzz passes -Z flags; this lets the stable toolchain accept them.
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", target])
            .arg(&working)
            .arg(fuzz_dir.join("corpus").join(target))
            .args(["--", max_time.as_str(), "-print_final_stats=1"]);
        eprintln!("==> fuzz {target}: {command:?}");
        let output = command
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            eprintln!("{log}");
            return Err(format!(
                "fuzz target {target} failed ({}); the crashing input is under fuzz/artifacts/{target}/",
                output.status
            ));
        }
        let executions = log
            .lines()
            .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("fuzz target {target}: no execution count in its output"))?;
        eprintln!("<== fuzz {target}: {executions} executions, no crash");
        total += executions;
    }
    eprintln!(
        "fuzzing done: {} targets, {total} executions in all",
        targets.len()
    );
    if total < min_executions {
        return Err(format!(
            "only {total} executions, fewer than the {min_executions} required; raise --seconds"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::summarize_skips;

    #[test]
    fn skips_are_counted_by_reason() {
        let log =
            "SKIPPED (PostgreSQL: unset): b\nSKIPPED (PostgreSQL: unset): a\nSKIPPED (other): c\n";
        assert_eq!(
            summarize_skips(log),
            [
                "3 tests skipped themselves:",
                "  2 (PostgreSQL: unset): a, b",
                "  1 (other): c",
            ]
        );
        assert_eq!(summarize_skips(""), ["0 tests skipped themselves"]);
    }
}
