//! Shared test fixtures: the known-answer vectors produced by the official InCountry SDKs.
//!
//! The vectors live outside this repository, in `../shared/vectors/` beside the checkout (set
//! `INCOUNTRY_VECTORS_DIR` to read them from elsewhere). Tests that need them fail with a clear
//! message when they are missing, rather than pass without checking anything.
//!
//! [`postgres`] is the PostgreSQL fixture: it finds the test server and decides whether a
//! PostgreSQL test runs, skips (recorded) or fails (on CI).

pub mod postgres;

use std::path::PathBuf;

use serde_json::Value;

/// The directory holding the vector files.
pub fn vectors_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INCOUNTRY_VECTORS_DIR") {
        return PathBuf::from(dir);
    }
    // crates/incountry-test-support -> workspace root -> its parent.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// Reads and parses `name` (e.g. `vectors-public.json`) from [`vectors_dir`].
///
/// # Panics
/// When the file is missing or is not JSON: a test without its vectors must not pass.
pub fn load_json(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read test vectors {}: {e}; check out ../shared beside the repository or set INCOUNTRY_VECTORS_DIR",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Reads a JSON-lines file (one JSON value per line) from [`vectors_dir`].
///
/// # Panics
/// When the file is missing or a line is not JSON.
pub fn load_json_lines(name: &str) -> Vec<Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read test vectors {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The array member `list` of `doc` (e.g. the `crypto` list of `vectors-public.json`).
///
/// # Panics
/// When `doc[list]` is not an array.
pub fn entries<'a>(doc: &'a Value, list: &str) -> &'a [Value] {
    doc[list]
        .as_array()
        .unwrap_or_else(|| panic!("vector file has no `{list}` list"))
}
