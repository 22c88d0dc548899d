//! `incountry records ...` and `incountry health`: the SDK's record calls from the shell.
//! Records and filters are read as JSON in the official SDKs' shapes; results are printed as
//! JSON on stdout.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use incountry_model::WIRE_RECORD_FIELDS;
use incountry_storage::{FindFilter, FindResult, Record, Sort};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::connect::{
    CommandError, ConnectArgs, inline_or_stdin, parse_json, print_json, run_async,
};

/// `incountry records`: write, read, find and delete records.
#[derive(Debug, Args)]
pub(crate) struct RecordsArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: RecordsCommand,
}

#[derive(Debug, Subcommand)]
enum RecordsCommand {
    /// Write (create or replace) one record given as a JSON object, e.g.
    /// `{"record_key": "k1", "body": "...", "key1": "a", "range_key1": 5}`.
    Write {
        #[command(flatten)]
        country: CountryArg,
        /// The record as JSON, or `-` to read it from stdin.
        record: String,
    },
    /// Write up to 100 records in one request: a JSON array of records, or one record per
    /// line.
    BatchWrite {
        #[command(flatten)]
        country: CountryArg,
        /// A file holding the records, or `-` for stdin.
        file: PathBuf,
    },
    /// Read one record by its key; prints it, or fails when there is none.
    Read {
        #[command(flatten)]
        country: CountryArg,
        /// The record key.
        record_key: String,
    },
    /// Find records: prints `{"records": [...], "meta": {...}, "errors": [...]}`.
    Find {
        #[command(flatten)]
        country: CountryArg,
        #[command(flatten)]
        query: QueryArgs,
    },
    /// Find the first record matching a filter; prints it, or `null` when there is none.
    FindOne {
        #[command(flatten)]
        country: CountryArg,
        #[command(flatten)]
        query: QueryArgs,
    },
    /// Delete one record by its key.
    Delete {
        #[command(flatten)]
        country: CountryArg,
        /// The record key.
        record_key: String,
    },
}

/// The country a command works in.
#[derive(Debug, Args)]
pub(crate) struct CountryArg {
    /// The country's two-letter code, e.g. `de`.
    #[arg(long, value_name = "CC")]
    pub(crate) country: String,
}

/// A find's filter, paging and sort.
#[derive(Debug, Args)]
struct QueryArgs {
    /// The filter as JSON in the official shape, e.g.
    /// `{"key1": ["a", "b"], "range_key1": {"$gte": 5}, "$or": [...]}`.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    filter: String,
    /// How many records to return (1 to 100).
    #[arg(long)]
    limit: Option<u32>,
    /// How many matching records to skip.
    #[arg(long)]
    offset: Option<u64>,
    /// The sort order as JSON, e.g. `[{"range_key1": "desc"}, {"created_at": "asc"}]`.
    #[arg(long, value_name = "JSON")]
    sort: Option<String>,
}

impl QueryArgs {
    fn filter(&self) -> Result<FindFilter, CommandError> {
        let mut members = match parse_json("--filter", &self.filter)? {
            Value::Object(members) => members,
            _ => return Err(CommandError::Usage("--filter must be a JSON object".into())),
        };
        if let Some(limit) = self.limit {
            members.insert("limit".into(), Value::from(limit));
        }
        if let Some(offset) = self.offset {
            members.insert("offset".into(), Value::from(offset));
        }
        if let Some(sort) = &self.sort {
            let sort = parse_json("--sort", sort)?;
            // Check the shape early so the error names the flag.
            if let Value::Array(items) = &sort {
                for item in items {
                    Sort::from_json(item)
                        .map_err(|e| CommandError::Usage(format!("--sort: {e}")))?;
                }
            }
            members.insert("sort".into(), sort);
        }
        FindFilter::from_json(&Value::Object(members))
            .map_err(|e| CommandError::Usage(format!("--filter: {e}")))
    }
}

/// `incountry health`: whether a country's server answers its health check.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    country: CountryArg,
}

pub(crate) fn run(args: RecordsArgs) -> Outcome {
    run_async("records", records(args))
}

pub(crate) fn run_health(args: HealthArgs) -> Outcome {
    run_async("health", async move {
        let storage = args.connect.storage().await?;
        let healthy = storage.health_check(&args.country.country).await?;
        print_json(&json!({"country": args.country.country, "healthy": healthy}))?;
        Ok(if healthy {
            Outcome::Success
        } else {
            Outcome::Failed
        })
    })
}

async fn records(args: RecordsArgs) -> Result<Outcome, CommandError> {
    // Parse the input before building the storage, so input errors need no secrets.
    match args.command {
        RecordsCommand::Write { country, record } => {
            let record = parse_record(&parse_json("the record", &inline_or_stdin(&record)?)?)?;
            let storage = args.connect.storage().await?;
            let written = storage.write(&country.country, record).await?;
            print_json(&json!({"record": record_json(&written)}))?;
        }
        RecordsCommand::BatchWrite { country, file } => {
            let records = read_records(&file)?;
            let storage = args.connect.storage().await?;
            let written = storage.batch_write(&country.country, records).await?;
            print_json(&json!({
                "records": written.iter().map(record_json).collect::<Vec<_>>()
            }))?;
        }
        RecordsCommand::Read {
            country,
            record_key,
        } => {
            let storage = args.connect.storage().await?;
            let record = storage.read(&country.country, &record_key).await?;
            print_json(&json!({"record": record_json(&record)}))?;
        }
        RecordsCommand::Find { country, query } => {
            let filter = query.filter()?;
            let storage = args.connect.storage().await?;
            let found = storage.find(&country.country, filter).await?;
            print_json(&find_json(&found))?;
            if !found.errors.is_empty() {
                eprintln!(
                    "incountry records find: {} record(s) could not be decrypted (listed under \
                     \"errors\")",
                    found.errors.len()
                );
                return Ok(Outcome::SomeLinesFailed);
            }
        }
        RecordsCommand::FindOne { country, query } => {
            let filter = query.filter()?;
            let storage = args.connect.storage().await?;
            let found = storage.find_one(&country.country, filter).await?;
            print_json(&json!({"record": found.as_ref().map(record_json)}))?;
        }
        RecordsCommand::Delete {
            country,
            record_key,
        } => {
            let storage = args.connect.storage().await?;
            storage.delete(&country.country, &record_key).await?;
            print_json(&json!({"success": true}))?;
        }
    }
    Ok(Outcome::Success)
}

/// A record as JSON, in the official record dictionary shape.
pub(crate) fn record_json(record: &Record) -> Value {
    Value::Object(record.to_json_map())
}

fn find_json(found: &FindResult) -> Value {
    let errors: Vec<Value> = found
        .errors
        .iter()
        .map(|failure| {
            json!({
                "record_key": failure.raw.record_key,
                "version": failure.raw.version,
                "error": failure.error.to_string(),
            })
        })
        .collect();
    json!({
        "records": found.records.iter().map(record_json).collect::<Vec<_>>(),
        "meta": found.meta,
        "errors": errors,
    })
}

fn parse_record(value: &Value) -> Result<Record, CommandError> {
    let Value::Object(map) = value else {
        return Err(CommandError::Usage(
            "a record must be a JSON object with at least \"record_key\"".into(),
        ));
    };
    record_from_map(map)
}

/// Reads a record, refusing members a record does not have (as a server does): a misspelt
/// `bodyy` would otherwise be dropped without a word. The members a record is printed with
/// (`version`, `created_at`, ...) are known, so printed records can be written back.
fn record_from_map(map: &Map<String, Value>) -> Result<Record, CommandError> {
    if let Some(unknown) = map
        .keys()
        .find(|k| !WIRE_RECORD_FIELDS.contains(&k.as_str()))
    {
        return Err(CommandError::Usage(format!(
            "record: {unknown:?} is not a member of a record (record_key, body, \
             precommit_body, profile_key, parent_key, service_key1..5, key1..20, \
             range_key1..10, expires_at)"
        )));
    }
    Record::from_json_map(map).map_err(|e| CommandError::Usage(format!("record: {e}")))
}

/// Reads a JSON array of records, or one record per line.
fn read_records(file: &std::path::Path) -> Result<Vec<Record>, CommandError> {
    let text = if file.as_os_str() == "-" {
        inline_or_stdin("-")?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| CommandError::Usage(format!("cannot read {}: {e}", file.display())))?
    };
    if text.trim_start().starts_with('[') {
        let Value::Array(items) = parse_json(&file.display().to_string(), &text)? else {
            return Err(CommandError::Usage(format!(
                "{} must hold a JSON array of records",
                file.display()
            )));
        };
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                parse_record(item).map_err(|e| match e {
                    CommandError::Usage(message) => {
                        CommandError::Usage(format!("record {}: {message}", i + 1))
                    }
                    other => other,
                })
            })
            .collect();
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let value = parse_json(&format!("line {}", i + 1), line)?;
            parse_record(&value).map_err(|e| match e {
                CommandError::Usage(message) => {
                    CommandError::Usage(format!("line {}: {message}", i + 1))
                }
                other => other,
            })
        })
        .collect()
}
