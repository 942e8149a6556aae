//! Audit events are `tracing` events of the target `verchain::audit`,
//! named as the audit event is, with its fields. A binary of its own: with
//! one subscriber in the process, `tracing` decides whether a callsite is
//! wanted on the thread that first meets it, so no other test may run
//! verchain on another thread meanwhile.

use std::sync::{Arc, Mutex};

use camino::Utf8Path;
use notes_example::Notes;
use verchain::folder::FolderStore;
use verchain::migrate;
use verchain_tests::options::to;
use verchain_tests::tree::fixture_copy;

/// Keeps the audit events `tracing` sees.
struct Recorder(Mutex<Vec<(String, String, String)>>);

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Step(String);
        impl tracing::field::Visit for Step {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "step" {
                    self.0 = value.to_owned();
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut step = Step(String::new());
        event.record(&mut step);
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((meta.target().to_owned(), meta.name().to_owned(), step.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn audit_events_are_tracing_events_of_the_audit_target() {
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    let dir = fixture_copy("notes/v1");
    tracing::subscriber::with_default(Arc::clone(&recorder), || {
        migrate::<Notes>(
            &FolderStore::new(Utf8Path::from_path(dir.path()).unwrap()),
            &to(2),
        )
        .unwrap();
    });
    let seen = recorder.0.lock().unwrap();
    assert_eq!(
        *seen,
        [(
            "verchain::audit".to_owned(),
            "migration.applied".to_owned(),
            "add_status".to_owned()
        )]
    );
}
