//! `cargo xtask bench`: our SDK side by side with the official Python SDK, and
//! `cargo xtask bench --server`: the server under load, against a bare hyper ceiling.
//!
//! Both build the release binaries, start `incountry serve` on a free port with a fresh data
//! directory, run the measurements as separate processes (each bounded by a timeout), print
//! tables and write them into `docs/performance.md` between their markers.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Result, cargo, official_sdk_venv, root, run};

const SDK_MARKERS: (&str, &str) = ("<!-- bench:start -->", "<!-- bench:end -->");
const LOAD_MARKERS: (&str, &str) = ("<!-- load:start -->", "<!-- load:end -->");
const FIND_MARKERS: (&str, &str) = ("<!-- find-latency:start -->", "<!-- find-latency:end -->");

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one SDK step (seeding, or every workload of one SDK) may take.
const SDK_STEP_TIMEOUT: Duration = Duration::from_secs(900);
/// How long filling a million records may take.
const MILLION_TIMEOUT: Duration = Duration::from_secs(3600);

const ENV_ID: &str = "bench-env";
const CLIENT_ID: &str = "bench";

/// Options of `cargo xtask bench`.
struct Options {
    server: bool,
    million: bool,
    seconds: u64,
    migrate_seed: String,
    write_docs: bool,
    /// A prebuilt `incountry` binary to serve with instead of building `incountry-cli`.
    server_bin: Option<PathBuf>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        server: false,
        million: false,
        seconds: crate::flag(args, "--seconds", 5)?,
        migrate_seed: "official".into(),
        write_docs: true,
        server_bin: None,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--server" => options.server = true,
            "--million" => options.million = true,
            "--no-docs" => options.write_docs = false,
            "--seconds" => {
                rest.next();
            }
            "--server-bin" => {
                options.server_bin = Some(rest.next().ok_or("--server-bin takes a path")?.into());
            }
            "--migrate-seed" => {
                options.migrate_seed = rest
                    .next()
                    .filter(|v| *v == "official" || *v == "ours")
                    .ok_or("--migrate-seed takes official or ours")?
                    .clone();
            }
            other => return Err(format!("bench: unknown option {other}")),
        }
    }
    Ok(options)
}

/// `cargo xtask bench [--server [--million] [--seconds N]] [--migrate-seed official|ours]
/// [--server-bin PATH] [--no-docs]`.
pub(crate) fn bench(args: &[String]) -> Result {
    let options = options(args)?;
    let mut build = cargo();
    build.args(["build", "--release", "-p", "incountry-bench"]);
    if options.server_bin.is_none() {
        build.args(["-p", "incountry-cli"]);
    }
    run("release build", &mut build)?;
    let work = root().join("target").join("bench");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    if options.server {
        server_bench(&options, &work)
    } else {
        sdk_bench(&options, &work)
    }
}

/// The `incountry` binary the benchmarks serve with: `--server-bin`, or the release build.
fn server_bin(options: &Options) -> PathBuf {
    options
        .server_bin
        .clone()
        .unwrap_or_else(|| release_binary("incountry"))
}

fn release_binary(name: &str) -> PathBuf {
    root().join("target").join("release").join(name)
}

/// A random hex string (std's hasher keys are random per process).
fn random_hex() -> String {
    let state = RandomState::new();
    let mut out = String::new();
    for n in 0..2u64 {
        let mut hasher = state.build_hasher();
        hasher.write_u64(n);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// A process killed (and reaped) when dropped, and then its data directory removed.
struct Background {
    name: String,
    child: Child,
    data: Option<PathBuf>,
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(data) = &self.data {
            let _ = std::fs::remove_dir_all(data);
        }
        eprintln!("<== stopped {}", self.name);
    }
}

/// Starts `command` and waits (bounded) for the `listening on URL` line on its stdout.
fn start_listening(name: &str, command: &mut Command, log: &Path) -> Result<(Background, String)> {
    let log_file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    eprintln!("==> start {name}: {command:?} (log: {})", log.display());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take();
    let background = Background {
        name: name.to_owned(),
        child,
        data: None,
    };
    let stdout = stdout.ok_or(format!("{name}: no stdout"))?;
    let (send, receive) = mpsc::channel();
    // Keeps reading after the address, so the process never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = send.send(url.trim().to_owned());
            }
        }
    });
    let url = receive
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| format!("{name} printed no `listening on` line within {START_TIMEOUT:?}"))?;
    eprintln!("<== {name} listening on {url}");
    Ok((background, url))
}

/// Runs `command` to completion within `timeout`, returning its stdout (stderr passes through).
fn output_within(step: &str, command: &mut Command, timeout: Duration) -> Result<String> {
    eprintln!("==> {step}: {command:?}");
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{step}: cannot start: {e}"))?;
    let mut stdout = child.stdout.take().ok_or(format!("{step}: no stdout"))?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let status = crate::wait_bounded(step, &mut child, started, timeout)?;
    let text = reader.join().unwrap_or_default();
    eprintln!("<== {step}: {status} in {:.1?}", started.elapsed());
    if !status.success() {
        return Err(format!("{step} failed ({status})"));
    }
    Ok(text)
}

/// Starts `incountry serve` with a fresh data directory; returns it with its URL and the
/// client secret.
fn start_server(server_bin: &Path, work: &Path, tag: &str) -> Result<(Background, String, String)> {
    let data = work.join(format!("data-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let secret = random_hex();
    let (mut server, url) = start_listening(
        "incountry serve",
        Command::new(server_bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--client")
            .arg(format!("{CLIENT_ID}:{secret}@{ENV_ID}"))
            .env_remove("INCOUNTRY_DATABASE_URL")
            .env_remove("INCOUNTRY_COUNTRIES")
            .env_remove("INCOUNTRY_CLIENTS")
            .env_remove("INCOUNTRY_CLIENTS_FILE"),
        &work.join(format!("server-{tag}.log")),
    )?;
    server.data = Some(data);
    Ok((server, url, secret))
}

/// The number `"key": <number>` at the top of a flat JSON object (the first occurrence);
/// `None` for `null` or a missing key.
fn number(json: &str, key: &str) -> Option<f64> {
    let pattern = format!("\"{key}\":");
    let at = json.find(&pattern)? + pattern.len();
    let value: String = json[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
        .collect();
    value.parse().ok()
}

fn require(json: &str, key: &str, who: &str) -> Result<f64> {
    number(json, key).ok_or_else(|| format!("{who}: no number {key} in {json}"))
}

fn date_and_commit() -> String {
    let out = |cmd: &mut Command| {
        cmd.output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let date = out(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]));
    let commit =
        out(Command::new("git")
            .current_dir(root())
            .args(["rev-parse", "--short", "HEAD"]));
    let dirty = !out(Command::new("git").current_dir(root()).args([
        "status",
        "--porcelain",
        "--untracked-files=no",
    ]))
    .is_empty();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    format!(
        "{date}, commit {commit}{}, {cores} cores",
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        }
    )
}

/// Replaces what lies between `markers` in docs/performance.md with `content`; when the
/// markers are missing, appends them with `content` under `heading`. Reads the file just
/// before writing, so concurrent edits elsewhere in it are kept.
fn write_between_markers(markers: (&str, &str), content: &str, heading: &str) -> Result {
    let path = root().join("docs").join("performance.md");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let region = format!("{}\n{}\n{}", markers.0, content.trim_end(), markers.1);
    let start = text.find(markers.0);
    let end = start.and_then(|s| text[s..].find(markers.1).map(|e| s + e + markers.1.len()));
    let updated = match (start, end) {
        (Some(start), Some(end)) => format!("{}{region}{}", &text[..start], &text[end..]),
        _ => format!("{}\n\n{heading}\n\n{region}\n", text.trim_end()),
    };
    std::fs::write(&path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {} ({} .. {})", path.display(), markers.0, markers.1);
    Ok(())
}

/// One row of the side-by-side table.
struct Row {
    workload: &'static str,
    official: f64,
    ours: f64,
    unit: &'static str,
    higher_is_better: bool,
    target: Option<f64>,
}

impl Row {
    fn ratio(&self) -> f64 {
        if self.higher_is_better {
            self.ours / self.official
        } else {
            self.official / self.ours
        }
    }
}

fn format_value(value: f64, unit: &str) -> String {
    if unit == "s" {
        if value < 0.1 {
            format!("{:.1} ms", value * 1000.0)
        } else {
            format!("{value:.2} s")
        }
    } else {
        format!("{value:.0} {unit}")
    }
}

fn sdk_bench(options: &Options, work: &Path) -> Result {
    let python = official_sdk_venv()?;
    let has_matplotlib = Command::new(&python)
        .args(["-c", "import matplotlib"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_matplotlib {
        run(
            "matplotlib",
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "matplotlib",
            ]),
        )?;
    }
    let (server, url, secret) = start_server(&server_bin(options), work, "sdk")?;
    let run_id = &random_hex()[..8];
    let password = format!("bench password {run_id}");
    let (ours_tag, official_tag) = (format!("rs-{run_id}"), format!("py-{run_id}"));
    let (ours_migrate, official_migrate) = ("de", "fr");
    let connection = |command: &mut Command| {
        command
            .args([
                "--endpoint",
                &url,
                "--env-id",
                ENV_ID,
                "--client-id",
                CLIENT_ID,
            ])
            .args([
                "--client-secret",
                &secret,
                "--password",
                &password,
                "--country",
                "us",
            ]);
    };
    let ours = || Command::new(release_binary("incountry-bench"));
    let official = || {
        let mut command = Command::new(&python);
        command.arg(
            root()
                .join("xtask")
                .join("bench")
                .join("official_sdk_bench.py"),
        );
        command
    };
    let migrate_countries = format!("{ours_migrate},{official_migrate}");
    let migrate_args = ["--migrate-country", migrate_countries.as_str()];
    let mut seed = ours();
    seed.arg("seed");
    connection(&mut seed);
    seed.args(["--find-tag", &ours_tag]);
    if options.migrate_seed == "ours" {
        seed.args(migrate_args);
    }
    output_within("seed (ours)", &mut seed, SDK_STEP_TIMEOUT)?;
    let mut seed = official();
    seed.arg("seed");
    connection(&mut seed);
    seed.args(["--find-tag", &official_tag]);
    if options.migrate_seed == "official" {
        seed.args(migrate_args);
    }
    output_within("seed (official SDK)", &mut seed, SDK_STEP_TIMEOUT)?;

    let mut command = ours();
    command.arg("sdk");
    connection(&mut command);
    command.args([
        "--run-id",
        &ours_tag,
        "--own-tag",
        &ours_tag,
        "--foreign-tag",
        &official_tag,
    ]);
    command.args(["--migrate-country", ours_migrate]);
    let ours_json = output_within("workloads (ours)", &mut command, SDK_STEP_TIMEOUT)?;
    let mut command = official();
    command.arg("sdk");
    connection(&mut command);
    command.args([
        "--run-id",
        &official_tag,
        "--own-tag",
        &official_tag,
        "--foreign-tag",
        &ours_tag,
    ]);
    command.args(["--migrate-country", official_migrate]);
    let official_json = output_within("workloads (official SDK)", &mut command, SDK_STEP_TIMEOUT)?;
    drop(server);
    let _ = std::fs::write(work.join("sdk-ours.json"), &ours_json);
    let _ = std::fs::write(work.join("sdk-official.json"), &official_json);

    let (o, p) = (ours_json.as_str(), official_json.as_str());
    let rows = vec![
        Row {
            workload: "single write, sequential",
            official: require(p, "single_write_ops_per_s", "official")?,
            ours: require(o, "single_write_ops_per_s", "ours")?,
            unit: "ops/s",
            higher_is_better: true,
            target: Some(3.0),
        },
        Row {
            workload: "single read, sequential",
            official: require(p, "single_read_ops_per_s", "official")?,
            ours: require(o, "single_read_ops_per_s", "ours")?,
            unit: "ops/s",
            higher_is_better: true,
            target: Some(3.0),
        },
        Row {
            workload: "batch_write of 100 (median)",
            official: require(p, "batch_write_100_s", "official")?,
            ours: require(o, "batch_write_100_s", "ours")?,
            unit: "s",
            higher_is_better: false,
            target: Some(50.0),
        },
        Row {
            workload: "find 100 records written by our SDK (median)",
            official: require(p, "find_foreign_100_s", "official")?,
            ours: require(o, "find_own_100_s", "ours")?,
            unit: "s",
            higher_is_better: false,
            target: Some(50.0),
        },
        Row {
            workload: "find 100 records written by the official SDK (median)",
            official: require(p, "find_own_100_s", "official")?,
            ours: require(o, "find_foreign_100_s", "ours")?,
            unit: "s",
            higher_is_better: false,
            target: Some(2.0),
        },
        Row {
            workload: "migrate 1000 records, secret v1 to v2",
            official: require(p, "migrate_s", "official")?,
            ours: require(o, "migrate_s", "ours")?,
            unit: "s",
            higher_is_better: false,
            target: None,
        },
        Row {
            workload: "8 concurrent readers",
            official: require(p, "concurrent_read_ops_per_s", "official")?,
            ours: require(o, "concurrent_read_ops_per_s", "ours")?,
            unit: "reads/s",
            higher_is_better: true,
            target: None,
        },
    ];
    let seeded_by = if options.migrate_seed == "ours" {
        "our SDK"
    } else {
        "the official SDK"
    };
    let mut table = format!(
        "Measured {} by `cargo xtask bench`; both SDKs against one `incountry serve` (SQLite) \
         on this machine, password secrets (PBKDF2), the records to migrate written by {seeded_by}.\n\n\
         | workload | official SDK (Python 4.1.0) | ours | ours faster by | target | met |\n\
         |---|---|---|---|---|---|\n",
        date_and_commit()
    );
    for row in &rows {
        let target = row.target.map_or("".into(), |t| format!("≥ {t}x"));
        let met = match row.target {
            Some(t) if row.ratio() >= t => "yes",
            Some(_) => "**no**",
            None => "",
        };
        table.push_str(&format!(
            "| {} | {} | {} | **{:.1}x** | {target} | {met} |\n",
            row.workload,
            format_value(row.official, row.unit),
            format_value(row.ours, row.unit),
            row.ratio()
        ));
    }
    println!("\n{table}");
    if options.write_docs {
        write_between_markers(
            SDK_MARKERS,
            &format!("{table}\n![ours faster by, per workload](performance-sdk.png)\n"),
            "## Side by side with the official SDK",
        )?;
        let mut chart = Command::new(&python);
        chart
            .arg(root().join("xtask").join("bench").join("chart.py"))
            .arg(root().join("docs").join("performance-sdk.png"));
        for row in &rows {
            chart.arg(format!(
                "{}={}={}",
                row.workload,
                row.ratio(),
                row.target.unwrap_or(0.0)
            ));
        }
        output_within("chart", &mut chart, Duration::from_secs(120))?;
    }
    Ok(())
}

fn server_bench(options: &Options, work: &Path) -> Result {
    let (server, url, secret) = start_server(&server_bin(options), work, "load")?;
    let (bare, bare_url) = start_listening(
        "bare",
        Command::new(release_binary("incountry-bench")).args(["bare", "--listen", "127.0.0.1:0"]),
        &work.join("bare.log"),
    )?;
    let seconds = options.seconds.max(1).to_string();
    // Three concurrencies, each measured for `seconds` after a warm-up of at most 1 s.
    let load_timeout = Duration::from_secs(options.seconds.max(1) * 3 + 120);
    let wire = |command: &mut Command, country: &str| {
        command
            .args(["--url", &url, "--env-id", ENV_ID, "--client-id", CLIENT_ID])
            .args(["--client-secret", &secret, "--country", country]);
    };
    let mut results: Vec<(String, String)> = Vec::new();
    for op in ["read", "write", "find"] {
        let mut command = Command::new(release_binary("incountry-bench"));
        command.arg("load");
        wire(&mut command, "us");
        command.args([
            "--op",
            op,
            "--concurrency",
            "1,8,32",
            "--duration-secs",
            &seconds,
        ]);
        let text = output_within(&format!("load {op}"), &mut command, load_timeout)?;
        results.push((op.to_owned(), text));
    }
    let mut command = Command::new(release_binary("incountry-bench"));
    command.args([
        "load",
        "--url",
        &bare_url,
        "--op",
        "read",
        "--concurrency",
        "1,8,32",
    ]);
    command.args(["--duration-secs", &seconds]);
    let bare_text = output_within("load bare", &mut command, load_timeout)?;
    drop(bare);

    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.trim_start().starts_with('{'))
            .map(str::to_owned)
            .collect()
    };
    let bare_lines = lines(&bare_text);
    let bare_at = |concurrency: f64| {
        bare_lines
            .iter()
            .find(|l| number(l, "concurrency") == Some(concurrency))
            .and_then(|l| number(l, "throughput"))
    };
    let mut table = format!(
        "Measured {} by `cargo xtask bench --server` ({seconds} s per cell; the load generator \
         and the server share the machine's cores).\n\n\
         | target | op | concurrency | requests/s | p50 | p99 | errors | % of bare |\n\
         |---|---|---|---|---|---|---|---|\n",
        date_and_commit()
    );
    for (op, text) in results
        .iter()
        .map(|(op, text)| (op.as_str(), text.as_str()))
        .chain([("any (fixed body)", bare_text.as_str())])
    {
        let target = if op.starts_with("any") {
            "bare hyper"
        } else {
            "incountry serve"
        };
        for line in lines(text) {
            let concurrency = require(&line, "concurrency", op)?;
            let throughput = require(&line, "throughput", op)?;
            let share = bare_at(concurrency)
                .map_or("".into(), |b| format!("{:.0} %", 100.0 * throughput / b));
            table.push_str(&format!(
                "| {target} | {op} | {concurrency} | {throughput:.0} | {:.2} ms | {:.2} ms | {} | {share} |\n",
                require(&line, "p50_ms", op)?,
                require(&line, "p99_ms", op)?,
                require(&line, "errors", op)?,
            ));
        }
    }
    println!("\n{table}");
    if options.write_docs {
        write_between_markers(LOAD_MARKERS, &table, "## Server throughput")?;
    }

    // Equality-find latency as the table grows (its own country, so nothing else is there).
    let mut sizes = vec![(10_000u64, 0u64)];
    if options.million {
        sizes.push((1_000_000, 10_000));
    }
    let mut find_rows = String::new();
    for (total, start) in sizes {
        let mut fill = Command::new(release_binary("incountry-bench"));
        fill.arg("fill");
        wire(&mut fill, "sg");
        fill.args([
            "--records",
            &(total - start).to_string(),
            "--start",
            &start.to_string(),
        ]);
        let filled = output_within(&format!("fill to {total}"), &mut fill, MILLION_TIMEOUT)?;
        let mut find = Command::new(release_binary("incountry-bench"));
        find.arg("find-latency");
        wire(&mut find, "sg");
        find.args(["--records", &total.to_string(), "--finds", "200"]);
        let latency = output_within(
            &format!("find latency at {total}"),
            &mut find,
            Duration::from_secs(600),
        )?;
        find_rows.push_str(&format!(
            "| {total} | {:.2} ms | {:.2} ms | {:.2} ms | {:.0} records/s |\n",
            require(&latency, "p50_ms", "find-latency")?,
            require(&latency, "p99_ms", "find-latency")?,
            require(&latency, "mean_ms", "find-latency")?,
            require(&filled, "records_per_s", "fill")?,
        ));
    }
    drop(server);
    let find_table = format!(
        "Measured {} by `cargo xtask bench --server --million`: 200 sequential finds of \
         `key1 = <value>` (each value matches 10 records), after a fill with batch writes of \
         100, 4 in flight.\n\n\
         | records in the country | p50 | p99 | mean | fill rate |\n|---|---|---|---|---|\n{find_rows}",
        date_and_commit()
    );
    println!("\n{find_table}");
    if options.write_docs && options.million {
        write_between_markers(
            FIND_MARKERS,
            &find_table,
            "### Equality find as the table grows",
        )?;
    } else if options.write_docs {
        eprintln!(
            "find latency at 1 000 000 records not measured (pass --million); its table in docs/performance.md is left as it was"
        );
    }
    Ok(())
}

/// How long the whole soak run (clients plus final check) may take beyond its duration.
const SOAK_GRACE: Duration = Duration::from_secs(180);

/// `cargo xtask soak [--seconds N] [--clients N]`: 8 concurrent SDK clients doing mixed
/// operations against `incountry serve` (debug build, SQLite) for 60 s, then a check that
/// every acknowledged write reads back; fails on any error the soak did not provoke.
pub(crate) fn soak(args: &[String]) -> Result {
    let seconds = crate::flag(args, "--seconds", 60)?;
    let clients = crate::flag(args, "--clients", 8)?;
    run(
        "build",
        cargo().args(["build", "-p", "incountry-cli", "-p", "incountry-bench"]),
    )?;
    let debug_binary = |name: &str| root().join("target").join("debug").join(name);
    let work = root().join("target").join("soak");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let (server, url, secret) = start_server(&debug_binary("incountry"), &work, "soak")?;
    let password = format!("soak password {}", &random_hex()[..8]);
    let report = output_within(
        "soak",
        Command::new(debug_binary("incountry-bench"))
            .arg("soak")
            .args([
                "--endpoint",
                &url,
                "--env-id",
                ENV_ID,
                "--client-id",
                CLIENT_ID,
            ])
            .args(["--client-secret", &secret, "--password", &password])
            .args(["--country", "de"])
            .args(["--clients", &clients.to_string()])
            .args(["--duration-secs", &seconds.to_string()]),
        Duration::from_secs(seconds) + SOAK_GRACE,
    )?;
    drop(server);
    eprintln!("soak: {}", report.trim());
    Ok(())
}

/// How long schemathesis fuzzes the API (it spends this budget, then stops).
const API_FUZZ_SECONDS: u64 = 90;

/// The API fuzz run of `cargo xtask interop`: schemathesis (from PyPI, in its own venv) reads
/// `/openapi.json` from `incountry serve` (debug build, SQLite) and sends generated requests
/// with a valid token; any 5xx answer fails the run.
pub(crate) fn api_fuzz() -> Result {
    let venv = root().join("target").join("schemathesis-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run(
            "schemathesis venv",
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
        )?;
    }
    run(
        "schemathesis",
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "schemathesis>=4,<5",
        ]),
    )?;
    run("build", cargo().args(["build", "-p", "incountry-cli"]))?;
    let work = root().join("target").join("api-fuzz");
    std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let server_bin = root().join("target").join("debug").join("incountry");
    let (server, url, secret) = start_server(&server_bin, &work, "api-fuzz")?;
    let report = output_within(
        "schemathesis",
        Command::new(&python)
            .arg(
                root()
                    .join("xtask")
                    .join("interop")
                    .join("schemathesis_run.py"),
            )
            .args(["--url", &url, "--env-id", ENV_ID])
            .args(["--client", &format!("{CLIENT_ID}:{secret}")])
            .args(["--max-examples", "50"])
            .args(["--max-time", &API_FUZZ_SECONDS.to_string()])
            .args(["--report-dir"])
            .arg(&work)
            .current_dir(&work),
        Duration::from_secs(API_FUZZ_SECONDS) + SOAK_GRACE,
    )?;
    drop(server);
    eprintln!("schemathesis: no server error; {}", report.trim());
    Ok(())
}
