//! `incountry crypto ...`: offline commands over stdin and stdout, one item per line.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use incountry_crypto::{Crypto, SecretsData, decrypt_record, hash_key};
use serde_json::{Value, json};

use crate::Outcome;

/// Offline encryption, decryption and hashing.
#[derive(Debug, Subcommand)]
pub(crate) enum CryptoCommand {
    /// Decrypt ciphertexts read from stdin (one per line); print each plaintext as a JSON string.
    Decrypt {
        #[command(flatten)]
        secrets: SecretsArg,
        /// The secret version the data was encrypted with (default: the current version).
        #[arg(long, value_name = "N")]
        key_version: Option<u32>,
    },
    /// Encrypt JSON strings read from stdin (one per line) with the current secret; print
    /// `{"ciphertext": ..., "version": N}` for each.
    Encrypt {
        #[command(flatten)]
        secrets: SecretsArg,
    },
    /// Print the blind index (salted SHA-256) of each value, one per line. Without values, read
    /// them from stdin, one per line.
    Hash {
        /// The environment id the hashes are salted with.
        #[arg(long, value_name = "ID")]
        env_id: String,
        /// Lower-case values first, as the SDKs' `normalize_keys` option does.
        #[arg(long)]
        normalize: bool,
        /// Values to hash.
        values: Vec<String>,
    },
    /// Decrypt records as the API returns them (JSON objects, one per line, e.g. exported from
    /// a server's database); print each with its plain body, precommit body and key values.
    DecryptRecord {
        #[command(flatten)]
        secrets: SecretsArg,
    },
}

/// Where the secrets come from.
#[derive(Debug, Args)]
pub(crate) struct SecretsArg {
    /// A file holding the official secrets JSON object
    /// (`{"currentVersion": N, "secrets": [...]}`) or a JSON string (one password, version 0).
    #[arg(long = "secrets", value_name = "FILE")]
    file: PathBuf,
}

pub(crate) fn run(command: CryptoCommand) -> Outcome {
    let stdin = io::stdin().lock();
    let stdout = BufWriter::new(io::stdout().lock());
    let stderr = io::stderr().lock();
    let mut io = LineIo {
        out: stdout,
        err: stderr,
        failed: false,
    };
    let result = match command {
        CryptoCommand::Decrypt {
            secrets,
            key_version,
        } => load_crypto(&secrets.file).map(|crypto| {
            io.each_line(stdin, |line| {
                let plain = crypto
                    .decrypt(line.trim(), key_version)
                    .map_err(|e| e.to_string())?;
                Ok(Value::String(plain).to_string())
            })
        }),
        CryptoCommand::Encrypt { secrets } => load_crypto(&secrets.file).map(|crypto| {
            io.each_line(stdin, |line| {
                let Value::String(text) = parse_json(line)? else {
                    return Err("expected a JSON string".to_owned());
                };
                let sealed = crypto.encrypt(&text).map_err(|e| e.to_string())?;
                Ok(
                    json!({"ciphertext": sealed.ciphertext, "version": sealed.key_version})
                        .to_string(),
                )
            })
        }),
        CryptoCommand::Hash {
            env_id,
            normalize,
            values,
        } => {
            if values.is_empty() {
                Ok(io.each_line(stdin, |line| Ok(hash_key(line, &env_id, normalize))))
            } else {
                let hashes = values.iter().map(|v| hash_key(v, &env_id, normalize));
                Ok(io.write_all(hashes))
            }
        }
        CryptoCommand::DecryptRecord { secrets } => load_crypto(&secrets.file).map(|crypto| {
            io.each_line(stdin, |line| {
                let Value::Object(record) = parse_json(line)? else {
                    return Err("expected a JSON object (a record)".to_owned());
                };
                let plain = decrypt_record(&crypto, &record).map_err(|e| e.to_string())?;
                Ok(Value::Object(plain).to_string())
            })
        }),
    };
    match result {
        Ok(outcome) => outcome,
        Err(message) => {
            let _ = writeln!(io.err, "incountry: {message}");
            Outcome::Usage
        }
    }
}

fn parse_json(line: &str) -> Result<Value, String> {
    // serde_json's message may quote the input, which can be personal data: keep only where.
    // Strict: an object naming a member twice is refused.
    incountry_model::parse_json_strict(line.as_bytes())
        .map_err(|e| format!("not valid JSON (column {})", e.column()))
}

/// Reads the secrets file and builds the `Crypto`; the message names the file and the problem,
/// never its content.
fn load_crypto(path: &Path) -> Result<Crypto, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read secrets file {}: {e}", path.display()))?;
    let secrets = SecretsData::from_json(text.trim())
        .map_err(|e| format!("secrets file {}: {e}", path.display()))?;
    Crypto::new(secrets).map_err(|e| format!("secrets file {}: {e}", path.display()))
}

/// Line-by-line processing: results to stdout in input order, failures to stderr with their
/// line number, processing continues after a failure.
struct LineIo<O: Write, E: Write> {
    out: O,
    err: E,
    failed: bool,
}

impl<O: Write, E: Write> LineIo<O, E> {
    fn each_line(
        &mut self,
        mut input: impl BufRead,
        mut process: impl FnMut(&str) -> Result<String, String>,
    ) -> Outcome {
        let mut buffer = Vec::new();
        let mut number = 0usize;
        loop {
            buffer.clear();
            match input.read_until(b'\n', &mut buffer) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = writeln!(self.err, "incountry: cannot read stdin: {e}");
                    self.failed = true;
                    break;
                }
            }
            number += 1;
            let result = std::str::from_utf8(&buffer)
                .map_err(|_| "not valid UTF-8".to_owned())
                .map(|line| line.trim_end_matches(['\n', '\r']))
                .and_then(|line| {
                    if line.trim().is_empty() {
                        Err("empty line".to_owned())
                    } else {
                        process(line)
                    }
                });
            match result {
                Ok(output) => {
                    if writeln!(self.out, "{output}").is_err() {
                        // stdout is gone (e.g. a closed pipe): nothing more can be delivered.
                        return Outcome::SomeLinesFailed;
                    }
                }
                Err(reason) => {
                    self.failed = true;
                    let _ = writeln!(self.err, "line {number}: {reason}");
                }
            }
        }
        self.finish()
    }

    fn write_all(&mut self, lines: impl Iterator<Item = String>) -> Outcome {
        for line in lines {
            if writeln!(self.out, "{line}").is_err() {
                return Outcome::SomeLinesFailed;
            }
        }
        self.finish()
    }

    fn finish(&mut self) -> Outcome {
        if self.out.flush().is_err() || self.failed {
            Outcome::SomeLinesFailed
        } else {
            Outcome::Success
        }
    }
}
