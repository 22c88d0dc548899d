//! `incountry attachments ...`: files attached to records.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use futures_util::StreamExt as _;
use incountry_storage::AttachmentSource;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

use crate::Outcome;
use crate::connect::{CommandError, ConnectArgs, print_json, run_async};
use crate::records_cmd::CountryArg;

/// `incountry attachments`: add, download, inspect and delete attachments.
#[derive(Debug, Args)]
pub(crate) struct AttachmentsArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(subcommand)]
    command: AttachmentsCommand,
}

/// The record (and attachment) a command is about.
#[derive(Debug, Args)]
struct Target {
    #[command(flatten)]
    country: CountryArg,
    /// The key of the record the file is attached to.
    #[arg(long, value_name = "KEY")]
    record_key: String,
}

#[derive(Debug, Subcommand)]
enum AttachmentsCommand {
    /// Attach a file to a record; prints the attachment's metadata.
    Add {
        #[command(flatten)]
        target: Target,
        /// The file to upload.
        file: PathBuf,
        /// The file's MIME type (default: the server's guess).
        #[arg(long, value_name = "TYPE")]
        mime_type: Option<String>,
        /// The file name to store (default: the file's own name).
        #[arg(long, value_name = "NAME")]
        filename: Option<String>,
        /// Replace an attachment with the same file name instead of adding another.
        #[arg(long)]
        upsert: bool,
    },
    /// Download an attachment's content to a file, or to stdout.
    Get {
        #[command(flatten)]
        target: Target,
        /// The attachment's id.
        #[arg(long, value_name = "ID")]
        file_id: String,
        /// Where to write the content (default: stdout).
        #[arg(long, short, value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Print an attachment's metadata; with `--filename` or `--mime-type`, change it first.
    Meta {
        #[command(flatten)]
        target: Target,
        /// The attachment's id.
        #[arg(long, value_name = "ID")]
        file_id: String,
        /// A new file name.
        #[arg(long, value_name = "NAME")]
        filename: Option<String>,
        /// A new MIME type.
        #[arg(long, value_name = "TYPE")]
        mime_type: Option<String>,
    },
    /// Delete an attachment.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The attachment's id.
        #[arg(long, value_name = "ID")]
        file_id: String,
    },
}

pub(crate) fn run(args: AttachmentsArgs) -> Outcome {
    run_async("attachments", attachments(args))
}

async fn attachments(args: AttachmentsArgs) -> Result<Outcome, CommandError> {
    let storage = args.connect.storage().await?;
    match args.command {
        AttachmentsCommand::Add {
            target,
            file,
            mime_type,
            filename,
            upsert,
        } => {
            if !file.is_file() {
                return Err(CommandError::Usage(format!(
                    "{} is not a readable file",
                    file.display()
                )));
            }
            let mut source = AttachmentSource::from_path(file);
            if let Some(name) = filename {
                source = source.with_filename(name);
            }
            let mut call = storage
                .add_attachment(&target.country.country, &target.record_key, source)
                .upsert(upsert);
            if let Some(mime_type) = mime_type {
                call = call.mime_type(mime_type);
            }
            let meta = call.await?;
            print_json(&json!({"attachment": meta}))?;
        }
        AttachmentsCommand::Get {
            target,
            file_id,
            output,
        } => {
            let file = storage
                .get_attachment_file(&target.country.country, &target.record_key, &file_id)
                .await?;
            let filename = file.filename().map(str::to_owned);
            let written = match &output {
                Some(path) => {
                    let out = tokio::fs::File::create(path).await.map_err(|e| {
                        CommandError::Failed(format!("cannot create {}: {e}", path.display()))
                    })?;
                    copy(file, out).await?
                }
                None => copy(file, tokio::io::stdout()).await?,
            };
            if let Some(path) = output {
                print_json(&json!({
                    "file": path.display().to_string(),
                    "filename": filename,
                    "size": written,
                }))?;
            }
        }
        AttachmentsCommand::Meta {
            target,
            file_id,
            filename,
            mime_type,
        } => {
            let (country, key) = (&target.country.country, &target.record_key);
            let meta = if filename.is_none() && mime_type.is_none() {
                storage.get_attachment_meta(country, key, &file_id).await?
            } else {
                let mut call = storage.update_attachment_meta(country, key, &file_id);
                if let Some(name) = filename {
                    call = call.filename(name);
                }
                if let Some(mime_type) = mime_type {
                    call = call.mime_type(mime_type);
                }
                call.await?
            };
            print_json(&json!({"attachment": meta}))?;
        }
        AttachmentsCommand::Delete { target, file_id } => {
            storage
                .delete_attachment(&target.country.country, &target.record_key, &file_id)
                .await?;
            print_json(&json!({"success": true}))?;
        }
    }
    Ok(Outcome::Success)
}

/// Streams an attachment's content into `out`; returns how many bytes were written.
async fn copy(
    file: incountry_storage::AttachmentFile,
    mut out: impl tokio::io::AsyncWrite + Unpin,
) -> Result<u64, CommandError> {
    let mut stream = std::pin::pin!(file.into_stream());
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            CommandError::Failed(format!("the download stopped before its end: {e}"))
        })?;
        out.write_all(&chunk)
            .await
            .map_err(|e| CommandError::Failed(format!("cannot write the content: {e}")))?;
        written += chunk.len() as u64;
    }
    out.flush()
        .await
        .map_err(|e| CommandError::Failed(format!("cannot write the content: {e}")))?;
    Ok(written)
}
