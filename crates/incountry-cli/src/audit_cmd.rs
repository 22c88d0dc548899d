//! `incountry audit`: print a country's audit trail, oldest entry first, as JSON lines.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use incountry_model::Country;
use incountry_server::audit::{self, AuditFilter, AuditOperation};

use crate::Outcome;

/// Options of `incountry audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The server's data directory (as given to `incountry serve --data-dir`).
    #[arg(long, env = "INCOUNTRY_DATA_DIR", default_value = "./incountry-data")]
    data_dir: PathBuf,
    /// The country whose trail to read (two letters).
    #[arg(long, value_name = "CC")]
    country: String,
    /// Only entries at or after this time (RFC 3339, e.g. `2026-01-31T12:00:00Z`).
    #[arg(long, value_name = "RFC3339")]
    since: Option<String>,
    /// Only this operation: write, batch_write, read, find, delete, batch_delete,
    /// attachment_add, attachment_upsert, attachment_download, attachment_meta,
    /// attachment_meta_update or attachment_delete.
    #[arg(long, value_name = "OP")]
    operation: Option<String>,
    /// Only requests of this client id.
    #[arg(long, value_name = "ID")]
    client: Option<String>,
}

pub(crate) fn run(args: AuditArgs) -> Outcome {
    let (dir, filter) = match filter_from(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("incountry audit: {message}");
            return Outcome::Usage;
        }
    };
    // A mistyped data directory must not look like an empty trail. (A country with no
    // trail yet in an existing data directory is just that: no entries.)
    let problem = match std::fs::metadata(&args.data_dir) {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some("is not a directory".to_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Some("no such directory".to_owned()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(problem) = problem {
        eprintln!(
            "incountry audit: --data-dir {}: {problem} (give the directory \
             `incountry serve --data-dir` writes to)",
            args.data_dir.display()
        );
        return Outcome::Usage;
    }
    let entries = match audit::read(&dir, &filter) {
        Ok(entries) => entries,
        Err(e) => {
            eprintln!(
                "incountry audit: cannot read the trail in {}: {e}",
                dir.display()
            );
            return Outcome::Failed;
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    for entry in &entries {
        let written = serde_json::to_string(entry)
            .map_err(io::Error::other)
            .and_then(|line| writeln!(out, "{line}"));
        if let Err(e) = written {
            eprintln!("incountry audit: cannot write: {e}");
            return Outcome::Failed;
        }
    }
    match out.flush() {
        Ok(()) => Outcome::Success,
        Err(e) => {
            eprintln!("incountry audit: cannot write: {e}");
            Outcome::Failed
        }
    }
}

/// The country directory and filter the arguments ask for.
fn filter_from(args: &AuditArgs) -> Result<(PathBuf, AuditFilter), String> {
    let country = Country::new(&args.country)
        .map_err(|_| format!("--country {:?} is not a two-letter code", args.country))?;
    let mut filter = AuditFilter::default();
    if let Some(since) = &args.since {
        filter.since = Some(
            audit::parse_time(since)
                .map_err(|e| format!("--since {since:?} is not an RFC 3339 time: {e}"))?,
        );
    }
    if let Some(operation) = &args.operation {
        filter.operation = Some(
            operation
                .parse::<AuditOperation>()
                .map_err(|e| e.to_string())?,
        );
    }
    filter.client_id = args.client.clone();
    Ok((audit::country_dir(&args.data_dir, country), filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> AuditArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            audit: AuditArgs,
        }
        let mut argv = vec!["audit", "--data-dir", "/data", "--country", "DE"];
        argv.extend_from_slice(extra);
        <Cli as clap::Parser>::try_parse_from(argv)
            .map(|cli| cli.audit)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn arguments_become_a_country_directory_and_a_filter() {
        let (dir, filter) = filter_from(&args(&[
            "--since",
            "2026-01-31T12:00:00+01:00",
            "--operation",
            "batch_write",
            "--client",
            "c1",
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dir, PathBuf::from("/data/de"));
        assert_eq!(
            filter.since.map(|t| t.to_rfc3339()),
            Some("2026-01-31T11:00:00+00:00".to_owned())
        );
        assert_eq!(filter.operation, Some(AuditOperation::BatchWrite));
        assert_eq!(filter.client_id.as_deref(), Some("c1"));
    }

    #[test]
    fn bad_times_operations_and_countries_are_usage_errors() {
        assert!(filter_from(&args(&["--since", "yesterday"])).is_err());
        assert!(filter_from(&args(&["--operation", "drop_table"])).is_err());
        let mut bad = args(&[]);
        bad.country = "germany".into();
        assert!(filter_from(&bad).is_err());
    }
}
