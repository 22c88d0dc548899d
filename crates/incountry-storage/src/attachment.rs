//! Attachment uploads (a streamed multipart body) and downloads (a stream and its file name).

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use incountry_transport::Body;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::error::{BoxError, StorageError};

/// The largest attachment the API accepts: 100 MiB.
pub const MAX_ATTACHMENT_SIZE: u64 = 104_857_600;

/// The message of the error for a too large attachment, as the official SDKs word it.
pub(crate) fn too_large_message() -> String {
    format!("Attachment is too large. Max allowed attachment size is {MAX_ATTACHMENT_SIZE} bytes")
}

type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// The content of a file to attach: a path, bytes in memory, or an async reader.
///
/// Paths and readers are streamed, never read whole into memory.
pub struct AttachmentSource {
    filename: String,
    content: Content,
}

enum Content {
    Bytes(Bytes),
    Path(PathBuf),
    Reader(Mutex<Option<Reader>>),
}

impl fmt::Debug for AttachmentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.content {
            Content::Bytes(bytes) => format!("{} bytes", bytes.len()),
            Content::Path(path) => format!("path {}", path.display()),
            Content::Reader(_) => "reader".to_owned(),
        };
        f.debug_struct("AttachmentSource")
            .field("filename", &self.filename)
            .field("content", &kind)
            .finish()
    }
}

impl AttachmentSource {
    /// The file at `path`, named after its last component; streamed when sent. Its size is
    /// checked before sending.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let filename = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self {
            filename,
            content: Content::Path(path),
        }
    }

    /// Bytes in memory, sent under `filename`.
    pub fn from_bytes(filename: impl Into<String>, bytes: impl Into<Bytes>) -> Self {
        Self {
            filename: filename.into(),
            content: Content::Bytes(bytes.into()),
        }
    }

    /// An async reader, streamed under `filename`. Sending fails once it yields more than
    /// [`MAX_ATTACHMENT_SIZE`] bytes. A reader can be sent only once, so a `401` answer to it
    /// cannot be retried with a refreshed token.
    pub fn from_reader(
        filename: impl Into<String>,
        reader: impl AsyncRead + Send + Unpin + 'static,
    ) -> Self {
        Self {
            filename: filename.into(),
            content: Content::Reader(Mutex::new(Some(Box::new(reader)))),
        }
    }

    /// Replaces the file name sent.
    #[must_use]
    pub fn with_filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = filename.into();
        self
    }

    /// The file name sent.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// Checks the source before anything is sent: a file name (at most
    /// [`MAX_FILENAME_BYTES`](incountry_model::MAX_FILENAME_BYTES) bytes), a readable file, the
    /// size.
    pub(crate) async fn check(&self) -> Result<(), StorageError> {
        if self.filename.is_empty() {
            return Err(StorageError::validation(
                "file",
                "the file name must not be empty",
            ));
        }
        incountry_model::validate_filename(&self.filename).map_err(StorageError::from_input)?;
        let size = match &self.content {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::Path(path) => {
                let meta =
                    tokio::fs::metadata(path)
                        .await
                        .map_err(|error| StorageError::Validation {
                            field: "file".into(),
                            rule: format!("cannot read {}: {error}", path.display()),
                            source: Some(Box::new(error)),
                        })?;
                if !meta.is_file() {
                    return Err(StorageError::validation(
                        "file",
                        format!("{} is not a regular file", path.display()),
                    ));
                }
                meta.len()
            }
            Content::Reader(_) => 0,
        };
        if size > MAX_ATTACHMENT_SIZE {
            return Err(StorageError::validation("file", too_large_message()));
        }
        Ok(())
    }

    /// The multipart body for one attempt; `Bytes` content gives a replayable body.
    pub(crate) fn multipart(&self, boundary: &str, mime_type: Option<&str>) -> Body {
        let head = Bytes::from(part_head(boundary, &self.filename, mime_type));
        let tail = Bytes::from(format!("\r\n--{boundary}--\r\n"));
        let content: Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + Unpin> =
            match &self.content {
                Content::Bytes(bytes) => {
                    let mut all = Vec::with_capacity(head.len() + bytes.len() + tail.len());
                    all.extend_from_slice(&head);
                    all.extend_from_slice(bytes);
                    all.extend_from_slice(&tail);
                    return Body::full(all);
                }
                Content::Path(path) => {
                    let path = path.clone();
                    let open = stream::once(async move { tokio::fs::File::open(path).await })
                        .map_ok(ReaderStream::new)
                        .try_flatten();
                    Box::new(Box::pin(limited(open.map_err(BoxError::from))))
                }
                Content::Reader(slot) => {
                    let reader = slot.lock().ok().and_then(|mut slot| slot.take());
                    match reader {
                        Some(reader) => Box::new(Box::pin(limited(
                            ReaderStream::new(reader).map_err(BoxError::from),
                        ))),
                        None => Box::new(stream::once(std::future::ready(Err::<Bytes, BoxError>(
                            "the attachment reader was already consumed; it cannot be sent twice"
                                .into(),
                        )))),
                    }
                }
            };
        let parts = stream::once(async move { Ok::<_, BoxError>(head) })
            .chain(content)
            .chain(stream::once(async move { Ok(tail) }));
        Body::from_stream(parts)
    }
}

/// Fails the stream once it yields more than [`MAX_ATTACHMENT_SIZE`] bytes.
fn limited<S>(inner: S) -> impl Stream<Item = Result<Bytes, BoxError>> + Send
where
    S: Stream<Item = Result<Bytes, BoxError>> + Send,
{
    let mut total: u64 = 0;
    inner.map(move |chunk| {
        let chunk = chunk?;
        total += chunk.len() as u64;
        if total > MAX_ATTACHMENT_SIZE {
            return Err(too_large_message().into());
        }
        Ok(chunk)
    })
}

/// Characters kept as they are in `filename*=UTF-8''...` (RFC 5987 `attr-char`).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The headers of the single `file` part, up to the blank line.
pub(crate) fn part_head(boundary: &str, filename: &str, mime_type: Option<&str>) -> String {
    let quoted: String = filename
        .chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            '\r' | '\n' => vec![' '],
            c => vec![c],
        })
        .collect();
    let mut head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\""
    );
    if !filename.is_ascii() {
        head.push_str("; filename*=UTF-8''");
        head.extend(utf8_percent_encode(filename, ATTR_CHAR));
    }
    head.push_str("\r\n");
    if let Some(mime) = mime_type {
        head.push_str("Content-Type: ");
        head.push_str(mime);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// A fresh multipart boundary (32 hex digits).
pub(crate) fn boundary() -> String {
    let mut out = String::with_capacity(32);
    for salt in [0x5bd1_e995_u64, 0x9e37_79b9_7f4a_7c15] {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(salt);
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// The file name of a `Content-Disposition` header: `filename*=UTF-8''...` first, else
/// `filename="..."` (or an unquoted token).
pub fn parse_content_disposition(value: &str) -> Option<String> {
    let params: Vec<&str> = split_params(value);
    for param in &params {
        if let Some((name, rest)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("filename*") {
                let rest = rest.trim();
                let (charset, encoded) = rest.split_once('\'')?;
                let encoded = encoded.split_once('\'').map_or(encoded, |(_, e)| e);
                if charset.eq_ignore_ascii_case("utf-8") {
                    if let Ok(text) = percent_decode_str(encoded).decode_utf8() {
                        return Some(text.into_owned());
                    }
                }
            }
        }
    }
    for param in &params {
        if let Some((name, rest)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("filename") {
                let rest = rest.trim();
                if let Some(inner) = rest.strip_prefix('"') {
                    let mut out = String::new();
                    let mut chars = inner.chars();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => out.extend(chars.next()),
                            '"' => break,
                            c => out.push(c),
                        }
                    }
                    return Some(out);
                }
                return Some(rest.to_owned());
            }
        }
    }
    None
}

/// Splits header parameters on `;` outside quoted strings.
fn split_params(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

/// A downloaded attachment: its file name (from `Content-Disposition`) and its content, read
/// as a stream.
pub struct AttachmentFile {
    filename: Option<String>,
    mime_type: Option<String>,
    body: Body,
}

impl fmt::Debug for AttachmentFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentFile")
            .field("filename", &self.filename)
            .field("mime_type", &self.mime_type)
            .finish_non_exhaustive()
    }
}

impl AttachmentFile {
    pub(crate) fn new(filename: Option<String>, mime_type: Option<String>, body: Body) -> Self {
        Self {
            filename,
            mime_type,
            body,
        }
    }

    /// The file name the server gave, if any.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The response's `Content-Type`, if any.
    pub fn mime_type(&self) -> Option<&str> {
        self.mime_type.as_deref()
    }

    /// The content as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
        self.body.into_stream()
    }

    /// Reads the whole content into memory (at most [`MAX_ATTACHMENT_SIZE`] bytes).
    pub async fn bytes(self) -> Result<Bytes, StorageError> {
        self.body
            .collect_limited(MAX_ATTACHMENT_SIZE as usize)
            .await
            .map_err(|error| StorageError::Validation {
                field: "attachment".into(),
                rule: format!("cannot read the attachment: {error}"),
                source: Some(Box::new(error)),
            })
    }

    /// Streams the content into a new file at `path` (replacing it) and returns the number
    /// of bytes written.
    pub async fn write_to(self, path: impl AsRef<Path>) -> Result<u64, std::io::Error> {
        let mut file = tokio::fs::File::create(path).await?;
        let mut stream = std::pin::pin!(self.body.into_stream());
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(std::io::Error::other)?;
            file.write_all(&chunk).await?;
            written += chunk.len() as u64;
        }
        file.flush().await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_extended_filename_first() {
        assert_eq!(
            parse_content_disposition(
                "attachment; filename=\"a.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
            )
            .as_deref(),
            Some("résumé.txt")
        );
    }

    #[test]
    fn reads_a_quoted_filename_with_escapes_and_semicolons() {
        assert_eq!(
            parse_content_disposition("attachment; filename=\"a \\\"b\\\"; c.txt\"").as_deref(),
            Some("a \"b\"; c.txt")
        );
        assert_eq!(parse_content_disposition("attachment").as_deref(), None);
    }

    #[test]
    fn part_head_adds_the_extended_name_only_for_non_ascii() {
        assert_eq!(
            part_head("B", "a.bin", None),
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n"
        );
        assert_eq!(
            part_head("B", "é\".txt", Some("text/plain")),
            "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"é\\\".txt\"; filename*=UTF-8''%C3%A9%22.txt\r\nContent-Type: text/plain\r\n\r\n"
        );
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
        assert_eq!(boundary().len(), 32);
    }
}
