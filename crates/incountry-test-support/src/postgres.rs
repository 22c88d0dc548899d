//! The PostgreSQL fixture: where the PostgreSQL tests find their server, and what they do without
//! one.
//!
//! Tests call [`url`]. When `INCOUNTRY_TEST_POSTGRES_URL` is set it returns the URL. When it is
//! unset, a test run on a developer machine skips the test (`None`), says so on stderr and, when
//! `INCOUNTRY_TEST_SKIP_LOG` names a file (`cargo xtask ci` sets it), appends one line there so
//! the run can report how many tests were skipped and why. On CI (`CI=true`) an unset variable
//! fails the test instead: skipped is not passed.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The variable holding the PostgreSQL URL the tests use.
pub const URL_VAR: &str = "INCOUNTRY_TEST_POSTGRES_URL";

/// The variable naming the file that skipped tests append a line to.
pub const SKIP_LOG_VAR: &str = "INCOUNTRY_TEST_SKIP_LOG";

/// The reason written for tests skipped because PostgreSQL is not configured.
pub const SKIP_REASON: &str = "PostgreSQL: INCOUNTRY_TEST_POSTGRES_URL is unset";

/// What a PostgreSQL test does, given the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run against this URL.
    Run(String),
    /// Return early: no PostgreSQL is configured and this is not CI.
    Skip,
    /// Fail with this message: no PostgreSQL is configured on CI.
    Fail(String),
}

/// Decides what `test` does from the values of `INCOUNTRY_TEST_POSTGRES_URL` and `CI`.
///
/// An empty URL counts as unset. `CI` counts as set when it is `true` or `1` (any case).
pub fn decide(test: &str, url: Option<&str>, ci: Option<&str>) -> Decision {
    match url.filter(|u| !u.trim().is_empty()) {
        Some(url) => Decision::Run(url.to_owned()),
        None if is_ci(ci) => Decision::Fail(format!(
            "{test}: {URL_VAR} is unset but CI=true; PostgreSQL tests must run on CI \
             (e.g. {URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
        )),
        None => Decision::Skip,
    }
}

fn is_ci(ci: Option<&str>) -> bool {
    ci.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The line a skipped `test` writes to stderr and to the skip log.
pub fn skip_line(test: &str) -> String {
    format!("SKIPPED ({SKIP_REASON}): {test}")
}

/// The PostgreSQL URL for `test`, or `None` when the test should return early.
///
/// # Panics
/// When `INCOUNTRY_TEST_POSTGRES_URL` is unset and `CI=true`.
pub fn url(test: &str) -> Option<String> {
    let url = std::env::var(URL_VAR).ok();
    let ci = std::env::var("CI").ok();
    match decide(test, url.as_deref(), ci.as_deref()) {
        Decision::Run(url) => Some(url),
        Decision::Fail(message) => panic!("{message}"),
        Decision::Skip => {
            let line = skip_line(test);
            eprintln!("{line}");
            if let Some(path) = std::env::var_os(SKIP_LOG_VAR) {
                record_skip(std::path::Path::new(&path), &line);
            }
            None
        }
    }
}

/// Appends `line` to the skip log at `path` (creating it). A log that cannot be written is
/// reported on stderr; it does not fail the test.
pub fn record_skip(path: &std::path::Path, line: &str) {
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(e) = written {
        eprintln!("cannot append to the skip log {}: {e}", path.display());
    }
}

/// A schema (or schema prefix) name starting with `prefix` that no other test or run uses:
/// `prefix`, the process id, the time in microseconds and a counter.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!(
        "{prefix}{}_{micros}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_url_runs() {
        let url = "postgres://postgres@127.0.0.1:5432/test";
        assert_eq!(decide("t", Some(url), None), Decision::Run(url.into()));
        assert_eq!(
            decide("t", Some(url), Some("true")),
            Decision::Run(url.into())
        );
    }

    #[test]
    fn an_unset_url_skips_outside_ci() {
        assert_eq!(decide("t", None, None), Decision::Skip);
        assert_eq!(decide("t", None, Some("false")), Decision::Skip);
        assert_eq!(decide("t", Some(" "), None), Decision::Skip);
    }

    #[test]
    fn an_unset_url_fails_on_ci() {
        for ci in ["true", "TRUE", "1"] {
            let Decision::Fail(message) = decide("my_test", None, Some(ci)) else {
                panic!("CI={ci} must fail");
            };
            assert!(message.starts_with("my_test: "), "{message}");
            assert!(message.contains("INCOUNTRY_TEST_POSTGRES_URL is unset"));
            assert!(message.contains("CI=true"));
        }
        assert!(matches!(
            decide("t", Some(""), Some("true")),
            Decision::Fail(_)
        ));
    }

    #[test]
    fn a_skip_is_logged_one_line_each() {
        let dir = std::env::temp_dir().join(unique_name("incountry_skip_log_"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips.log");
        record_skip(&log, &skip_line("a"));
        record_skip(&log, &skip_line("b"));
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            text,
            "SKIPPED (PostgreSQL: INCOUNTRY_TEST_POSTGRES_URL is unset): a\n\
             SKIPPED (PostgreSQL: INCOUNTRY_TEST_POSTGRES_URL is unset): b\n"
        );
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("p_"), unique_name("p_"));
        assert!(unique_name("p_").starts_with("p_"));
    }
}
