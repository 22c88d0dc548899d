//! The spans of a call: what they carry, and what they never carry. Alone in its test binary,
//! because tracing's callsite interest is global to the process.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use incountry_storage::Record;
use support::{FakePop, builder};

mod tracing_capture {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Records every span field and event field as text.
    #[derive(Clone, Default)]
    pub(super) struct Capture(pub(super) Arc<Mutex<Vec<String>>>);

    struct Text<'a>(&'a mut Vec<String>);
    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push(format!("{}={:?}", field.name(), value));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut out = self.0.lock().unwrap();
            out.push(format!("span {}", span.metadata().name()));
            span.record(&mut Text(&mut out));
            Id::from_u64(out.len() as u64)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Text(&mut self.0.lock().unwrap()));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            event.record(&mut Text(&mut self.0.lock().unwrap()));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[tokio::test]
async fn spans_name_the_call_and_never_carry_secrets() {
    let capture = tracing_capture::Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let pop = FakePop::new();
    let storage = builder(&pop)
        .secrets(support::password_secrets(1, "very secret password"))
        .build()
        .await
        .unwrap();
    storage
        .write("us", Record::new("private key").with_body("private body"))
        .await
        .unwrap();
    let lines = capture.0.lock().unwrap().join("\n");
    assert!(lines.contains("method=\"write\""), "{lines}");
    assert!(lines.contains("country=\"us\""), "{lines}");
    assert!(lines.contains("status=201"), "{lines}");
    assert!(lines.contains("attempt=1"), "{lines}");
    for secret in [
        "very secret password",
        "private key",
        "private body",
        "test-token",
    ] {
        assert!(!lines.contains(secret), "{secret} leaked: {lines}");
    }
}
