//! `incountry-bench load`, `fill` and `find-latency`: raw wire requests against a server.
//!
//! Records are sent as the SDK sends them (encoded by its [`RecordCodec`] with a fixed bench
//! secret): the blind indexes of record key `<prefix>-<i>`, of `key1` `g<i / 10>` (so every
//! `key1` value matches exactly ten records, whatever the table size) and of `key2` `bench`,
//! `range_key1` `i`, and an encrypted body (`2:` and base64) of a plain body of about 200
//! bytes. Keys and find bodies are encoded once up front, so the timed loops only send.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use hyper::Method;
use serde_json::json;

use incountry_crypto::{Crypto, Secret, SecretsData};
use incountry_model::{FindFilter, RangeKey, Record, RecordCodec, SearchKey};

use crate::BoxError;
use crate::wire::{WireArgs, WireClient};

/// Records per `batchWrite` (the API's maximum).
const BATCH: u64 = 100;
/// Records sharing one `key1` value.
const GROUP: u64 = 10;

/// The request a load run repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Op {
    /// `GET /v2/storage/records/{cc}/{key}` of a pre-inserted record.
    Read,
    /// `POST /v2/storage/records/{cc}` of a new record.
    Write,
    /// `POST /v2/storage/records/{cc}/find` by `key1` (ten matches).
    Find,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Find => "find",
        }
    }
}

/// Options of `incountry-bench load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    #[command(flatten)]
    wire: WireArgs,
    /// The request to repeat.
    #[arg(long, value_enum)]
    op: Op,
    /// Concurrent request loops, one run each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Measured seconds per concurrency (after a warm-up of a fifth of it, at most 1 s).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Records inserted first for `read` and `find` (skipped for `write` and with `--no-auth`
    /// targets such as `bare`).
    #[arg(long, default_value_t = 1000)]
    keyspace: u64,
}

/// Options of `incountry-bench fill`.
#[derive(Debug, Args)]
pub(crate) struct FillArgs {
    #[command(flatten)]
    wire: WireArgs,
    /// How many records to insert.
    #[arg(long)]
    records: u64,
    /// The index of the first record (to grow an earlier fill).
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Batch writes in flight at once.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
}

/// Options of `incountry-bench find-latency`.
#[derive(Debug, Args)]
pub(crate) struct FindLatencyArgs {
    #[command(flatten)]
    wire: WireArgs,
    /// How many records `fill` inserted (finds pick among their `key1` values).
    #[arg(long)]
    records: u64,
    /// How many finds to time, one after the other.
    #[arg(long, default_value_t = 200)]
    finds: u64,
}

/// The environment id the bench's records are encoded for (it salts the blind indexes).
const CODEC_ENV: &str = "bench";

/// The codec that encodes the bench's records as the SDK would.
fn codec() -> Result<RecordCodec, BoxError> {
    let secrets = SecretsData::new(1, vec![Secret::password(1, "incountry-bench-secret")])?;
    Ok(RecordCodec::new(CODEC_ENV, Crypto::new(secrets)?))
}

/// Record `<prefix>-<i>` on the wire.
fn record(codec: &RecordCodec, prefix: &str, i: u64) -> Result<serde_json::Value, BoxError> {
    let plain = Record::new(format!("{prefix}-{i}"))
        .with_body(format!(
            "{{\"name\":\"Jane Doe {i}\",\"email\":\"jane.doe.{i}@example.com\",\
             \"address\":\"1 Example Street, Springfield\",\"notes\":\"{}\"}}",
            "x".repeat(80)
        ))
        .with_key(SearchKey::Key1, format!("g{}", i / GROUP))
        .with_key(SearchKey::Key2, "bench")
        .with_range_key(RangeKey::RangeKey1, i64::try_from(i)?);
    Ok(serde_json::to_value(codec.encode(&plain)?)?)
}

/// The body of a find of the ten records whose `key1` is `g<group>`.
fn find_body(codec: &RecordCodec, group: u64) -> Result<Bytes, BoxError> {
    let filter = FindFilter::new()
        .eq(SearchKey::Key1, format!("g{group}"))
        .limit(100);
    Ok(Bytes::from(serde_json::to_vec(
        &codec.encode_find(&filter)?,
    )?))
}

/// Inserts records `start..start + count` with batch writes, `in_flight` at a time.
async fn insert(
    client: &WireClient,
    codec: &Arc<RecordCodec>,
    prefix: &str,
    start: u64,
    count: u64,
    in_flight: usize,
) -> Result<(), BoxError> {
    let batches = count.div_ceil(BATCH);
    let next = Arc::new(AtomicU64::new(0));
    let prefix: Arc<str> = Arc::from(prefix);
    let mut workers = Vec::new();
    for _ in 0..in_flight.max(1) {
        let (client, next, prefix) = (client.clone(), next.clone(), prefix.clone());
        let codec = codec.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return Ok::<(), BoxError>(());
                }
                let first = start + batch * BATCH;
                let last = (first + BATCH).min(start + count);
                let records = (first..last)
                    .map(|i| record(&codec, &prefix, i))
                    .collect::<Result<Vec<_>, _>>()?;
                let body = serde_json::to_vec(&json!({ "records": records }))?;
                client
                    .send_ok(
                        Method::POST,
                        &client.records_path("/batchWrite"),
                        Some(Bytes::from(body)),
                    )
                    .await?;
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

/// Runs the load at each concurrency and prints one JSON line per concurrency.
pub(crate) async fn run(args: LoadArgs) -> Result<(), BoxError> {
    let most = args.concurrency.iter().copied().max().unwrap_or(1);
    let client = WireClient::connect(&args.wire, most).await?;
    let codec = Arc::new(codec()?);
    let authenticated = args.wire.authenticates();
    if authenticated && args.op != Op::Write {
        insert(&client, &codec, "load", 0, args.keyspace, 4).await?;
    }
    let keyspace = args.keyspace.max(GROUP);
    let work = Arc::new(Work::new(&client, &codec, keyspace)?);
    let duration = Duration::from_secs(args.duration_secs.max(1));
    let warm_up = (duration / 5).min(Duration::from_secs(1));
    let counter = Arc::new(AtomicU64::new(0));
    for &concurrency in &args.concurrency {
        let concurrency = concurrency.max(1);
        let _ = drive(&work, args.op, concurrency, warm_up, &counter).await?;
        let started = Instant::now();
        let (histogram, errors) = drive(&work, args.op, concurrency, duration, &counter).await?;
        let seconds = started.elapsed().as_secs_f64();
        let requests = histogram.len() + errors;
        let line = json!({
            "op": args.op.name(),
            "concurrency": concurrency,
            "seconds": seconds,
            "requests": requests,
            "errors": errors,
            "throughput": histogram.len() as f64 / seconds,
            "p50_ms": histogram.value_at_quantile(0.50) as f64 / 1000.0,
            "p99_ms": histogram.value_at_quantile(0.99) as f64 / 1000.0,
        });
        println!("{line}");
    }
    Ok(())
}

/// What the timed loops send, encoded up front: the read path of every record in the
/// keyspace and the find body of every `key1` group.
struct Work {
    client: WireClient,
    codec: Arc<RecordCodec>,
    read_paths: Vec<String>,
    find_bodies: Vec<Bytes>,
}

impl Work {
    fn new(client: &WireClient, codec: &Arc<RecordCodec>, keyspace: u64) -> Result<Self, BoxError> {
        let read_paths = (0..keyspace)
            .map(|i| {
                let key = codec.hash_record_key(&format!("load-{i}"));
                client.records_path(&format!("/{key}"))
            })
            .collect();
        let find_bodies = (0..(keyspace / GROUP).max(1))
            .map(|group| find_body(codec, group))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            client: client.clone(),
            codec: codec.clone(),
            read_paths,
            find_bodies,
        })
    }
}

/// `concurrency` loops repeating `op` for `duration`; the latencies (µs) of the successful
/// requests and the count of failed ones.
async fn drive(
    work: &Arc<Work>,
    op: Op,
    concurrency: usize,
    duration: Duration,
    counter: &Arc<AtomicU64>,
) -> Result<(Histogram<u64>, u64), BoxError> {
    let deadline = Instant::now() + duration;
    let mut loops = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (work, counter) = (work.clone(), counter.clone());
        loops.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let pick = |len: usize| usize::try_from(n % len.max(1) as u64).unwrap_or(0);
                let (method, path, body) = match op {
                    Op::Read => (
                        Method::GET,
                        work.read_paths[pick(work.read_paths.len())].clone(),
                        None,
                    ),
                    Op::Write => (
                        Method::POST,
                        work.client.records_path(""),
                        Some(Bytes::from(serde_json::to_vec(&record(
                            &work.codec,
                            "write",
                            n,
                        )?)?)),
                    ),
                    Op::Find => (
                        Method::POST,
                        work.client.records_path("/find"),
                        Some(work.find_bodies[pick(work.find_bodies.len())].clone()),
                    ),
                };
                let started = Instant::now();
                match work.client.send(method, &path, body).await {
                    Ok((status, _)) if status.is_success() => {
                        let micros =
                            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        histogram.saturating_record(micros.max(1));
                    }
                    _ => errors += 1,
                }
            }
            Ok::<_, BoxError>((histogram, errors))
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for handle in loops {
        let (histogram, failed) = handle.await??;
        total.add(&histogram)?;
        errors += failed;
    }
    Ok((total, errors))
}

/// Inserts `--records` records and prints how long it took.
pub(crate) async fn fill(args: FillArgs) -> Result<(), BoxError> {
    let client = WireClient::connect(&args.wire, args.in_flight).await?;
    let started = Instant::now();
    let codec = Arc::new(codec()?);
    insert(
        &client,
        &codec,
        "fill",
        args.start,
        args.records,
        args.in_flight,
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "records": args.records,
            "start": args.start,
            "seconds": seconds,
            "records_per_s": args.records as f64 / seconds,
        })
    );
    Ok(())
}

/// Times `--finds` equality finds of random `key1` values among the filled records.
pub(crate) async fn find_latency(args: FindLatencyArgs) -> Result<(), BoxError> {
    let client = WireClient::connect(&args.wire, 1).await?;
    let codec = codec()?;
    let groups = (args.records / GROUP).max(1);
    let mut random = XorShift::seeded();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let path = client.records_path("/find");
    let warm_up = 10;
    for n in 0..args.finds + warm_up {
        let group = random.next() % groups;
        let body = find_body(&codec, group)?;
        let started = Instant::now();
        let answer = client.send_ok(Method::POST, &path, Some(body)).await?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let found: serde_json::Value = serde_json::from_slice(&answer)?;
        let count = found
            .get("data")
            .and_then(|d| d.as_array())
            .map_or(0, Vec::len);
        if count as u64 != GROUP {
            return Err(
                format!("find of key1 g{group} returned {count} records, not {GROUP}").into(),
            );
        }
        if n >= warm_up {
            histogram.saturating_record(micros.max(1));
        }
    }
    println!(
        "{}",
        json!({
            "records": args.records,
            "finds": args.finds,
            "p50_ms": histogram.value_at_quantile(0.50) as f64 / 1000.0,
            "p99_ms": histogram.value_at_quantile(0.99) as f64 / 1000.0,
            "mean_ms": histogram.mean() / 1000.0,
        })
    );
    Ok(())
}

/// A small non-cryptographic generator for picking keys.
struct XorShift(u64);

impl XorShift {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.subsec_nanos());
        Self(u64::from(nanos) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
