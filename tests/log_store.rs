//! The run protocol on a log (`LogStore`): golden outputs, rotated and
//! compressed files, dry runs, malformed lines both ways, a log that grows
//! during a run, rollbacks, startup.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use audit_example::Audit;
use camino::{Utf8Path, Utf8PathBuf};
use verchain::log::LogStore;
use verchain::log::{LogError, LogRecord};
use verchain::run::Outcome;
use verchain::{Chain, ErrorKind, RollbackTo, RunOptions, Stage, Startup, migration};
use verchain_tests::options::{dry, to};
use verchain_tests::tree::{assert_golden, fixture, fixture_copy, read_tree, write_tree};

fn utf8(dir: &Path) -> &Utf8Path {
    Utf8Path::from_path(dir).expect("utf-8 temp path")
}

fn log_in(dir: &Path) -> Utf8PathBuf {
    utf8(dir).join("audit.jsonl")
}

fn store(dir: &Path) -> LogStore {
    LogStore::new(log_in(dir))
}

fn log_error(err: &verchain::RunError) -> &LogError {
    match err.kind.store_error::<LogError>() {
        Some(e) => e,
        None => panic!("not a log error: {}", err.kind),
    }
}

#[test]
fn migrating_v1_gives_the_golden_output_of_every_version() {
    for target in 2..=Audit::CURRENT {
        let dir = fixture_copy("audit/v1");
        let report = verchain::migrate::<Audit>(&store(dir.path()), &to(target)).unwrap();
        assert_eq!(report.plan.len(), (target - 1) as usize);
        assert_eq!(report.versions.into_iter().collect::<Vec<_>>(), [(1, 2)]);
        assert_golden(&format!("audit/v{target}"), &read_tree(dir.path()));
    }
}

#[test]
fn each_golden_version_migrates_to_the_next() {
    for from in 2..Audit::CURRENT {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &fixture(&format!("audit/v{from}")));
        verchain::migrate::<Audit>(&store(dir.path()), &to(from + 1)).unwrap();
        assert_eq!(
            read_tree(dir.path()),
            fixture(&format!("audit/v{}", from + 1)),
            "v{from}"
        );
    }
}

#[test]
fn a_header_step_leaves_every_record_byte_for_byte() {
    let dir = fixture_copy("audit/v1");
    let before = fs::read_to_string(log_in(dir.path())).unwrap();
    let report = verchain::migrate::<Audit>(&store(dir.path()), &to(2)).unwrap();
    assert_eq!(report.counts.changed, 0);
    assert_eq!(report.counts.unchanged, 13);
    let after = fs::read_to_string(log_in(dir.path())).unwrap();
    let (header, rest) = after.split_once('\n').unwrap();
    assert_eq!(header, r#"{"_meta":{"schema_version":2,"log":"audit"}}"#);
    assert_eq!(rest, before);
}

#[test]
fn a_dry_run_reports_and_writes_nothing() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let report = verchain::migrate::<Audit>(&store(dir.path()), &dry()).unwrap();
    assert!(report.dry_run);
    assert_eq!(report.counts.changed, 13);
    assert_eq!(report.changes.len(), 2);
    let diff = report.changes[0].diff.as_deref().unwrap();
    // The header the run adds comes first, then the records it changes.
    assert!(
        diff.starts_with(
            "--- a/audit.jsonl\n+++ b/audit.jsonl\n@@ -0,0 +1 @@\n\
             +{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n@@ -1 +1 @@\n"
        ),
        "{diff}"
    );
    assert!(
        diff.contains(r#"+{"ts":"2024-05-01T09:00:00Z","user":"ana""#),
        "{diff}"
    );
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());
}

#[test]
fn rollback_restores_every_file_byte_for_byte_and_history_says_so() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let s = store(dir.path());
    let report = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let snapshot = report.snapshot.clone().unwrap();
    assert_ne!(read_tree(dir.path()), before);
    let back =
        verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(back.snapshot.as_deref(), Some(snapshot.as_str()));
    assert_eq!(read_tree(dir.path()), before);
    let history = verchain::history(&s).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].outcome, Outcome::Applied);
    assert_eq!(history[1].counts.changed, 13);
    assert_eq!(history[2].outcome, Outcome::RolledBack);
    assert_eq!(history[2].snapshot.as_deref(), Some(snapshot.as_str()));
    // Nothing left to undo.
    let err =
        verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err();
    assert!(matches!(*err.kind, ErrorKind::NoSnapshot(_)), "{err}");
}

#[test]
fn down_steps_bring_the_records_back_and_drop_a_bare_header() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path()).without_rotated();
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let report =
        verchain::rollback::<Audit>(&s, &RollbackTo::Version(1), &RunOptions::default()).unwrap();
    assert_eq!(report.plan.len(), 2);
    let text = fs::read_to_string(log_in(dir.path())).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        r#"{"ts":"2024-05-01T09:00:00Z","actor":"ana","action":"login","ip":"10.0.0.7","severity":"info"}"#
    );
    assert!(!text.contains("_meta"), "{text}");
    assert_eq!(verchain::status::<Audit>(&s).unwrap().stamp, Some(1));
}

#[test]
fn a_malformed_line_fails_the_run_naming_file_line_and_offset() {
    let dir = fixture_copy("audit/v1");
    let path = log_in(dir.path());
    let mut text = fs::read_to_string(&path).unwrap();
    let offset = text.len();
    text.push_str("{\"ts\":\"2024-05-02T00:00:00Z\",\"actor\":\"x\",\n");
    text.push_str("{\"ts\":\"2024-05-02T00:00:01Z\",\"actor\":\"y\",\"action\":\"login\"}\n");
    fs::write(&path, &text).unwrap();
    let before = read_tree(dir.path());
    let err = verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Stage);
    assert!(err.store_unchanged());
    let LogError::Malformed {
        path: bad,
        line,
        offset: at,
        ..
    } = log_error(&err)
    else {
        panic!("not a malformed line: {err}");
    };
    assert_eq!((bad, *line, *at), (&path, 12, offset as u64));
    let message = err.to_string();
    assert!(
        message.contains(&format!("{path} line 12 (byte {offset}): ")),
        "{message}"
    );
    assert!(message.contains("skip_malformed"), "{message}");
    assert!(
        message.contains("): EOF while parsing a value at column 41; "),
        "{message}"
    );
    assert_eq!(read_tree(dir.path()), before);
    let hidden: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".audit"))
        .collect();
    assert!(hidden.is_empty(), "a new file was left behind");
}

#[test]
fn skip_malformed_moves_bad_lines_to_quarantine_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let bad1 = "{\"actor\":\"x\",";
    let bad2 = "not json at all \u{1F600}";
    // JSON in form, but a number no step could read.
    let bad3 = "{\"ts\":\"t3\",\"actor\":\"c\",\"n\":1e400}";
    fs::write(
        &path,
        format!(
            "{{\"ts\":\"t1\",\"actor\":\"a\",\"action\":\"x\"}}\n{bad1}\n{bad3}\n{{\"ts\":\"t2\",\"actor\":\"b\",\"action\":\"y\"}}\r\n{bad2}"
        ),
    )
    .unwrap();
    let s = store(dir.path()).skip_malformed(true);
    let dry_report = verchain::migrate::<Audit>(&s, &dry()).unwrap();
    assert_eq!(dry_report.counts.quarantined, 3);
    assert!(verchain::log::quarantined(&s).unwrap().is_empty());
    let report = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    assert_eq!(report.counts.quarantined, 3);
    assert_eq!(report.counts.changed, 2);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n\
         {\"ts\":\"t1\",\"user\":\"a\",\"action\":\"x\",\"severity\":\"info\"}\n\
         {\"ts\":\"t2\",\"user\":\"b\",\"action\":\"y\",\"severity\":\"info\"}\r\n"
    );
    let quarantine = verchain::log::quarantined(&s).unwrap();
    assert_eq!(quarantine.len(), 1);
    assert_eq!(
        fs::read_to_string(&quarantine[0]).unwrap(),
        format!("{bad1}\n{bad3}\n{bad2}\n")
    );
    let history = verchain::history(&s).unwrap();
    assert_eq!(history[0].counts.quarantined, 3);
    let line = fs::read_to_string(s.history_path()).unwrap();
    assert!(line.contains("\"quarantined\":3"), "{line}");
    // The snapshot still has the bad lines: a rollback brings them back.
    verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert!(fs::read_to_string(&path).unwrap().contains(bad2));
}

#[test]
fn a_first_line_that_names_meta_but_is_broken_is_never_read_as_records() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        log_in(dir.path()),
        "{\"_meta\":{\"schema_version\":2}\n{\"actor\":\"a\"}\n",
    )
    .unwrap();
    let s = store(dir.path()).skip_malformed(true);
    let err = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Detect);
    let message = err.to_string();
    assert!(message.contains("line 1: bad header"), "{message}");
    fs::write(
        log_in(dir.path()),
        "{\"_meta\":{\"schema_version\":\"two\"}}\n",
    )
    .unwrap();
    let message = verchain::migrate::<Audit>(&s, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("`_meta.schema_version` is \"two\", not a version number"),
        "{message}"
    );
}

#[test]
fn a_log_newer_than_the_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(log_in(dir.path()), "{\"_meta\":{\"schema_version\":9}}\n").unwrap();
    let err = verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("is at version 9, newer than this program's newest version 3"),
        "{message}"
    );
}

#[test]
fn compressed_rotated_files_migrate_and_stay_compressed() {
    let dir = fixture_copy("audit/v1");
    let rotated = utf8(dir.path()).join("audit.jsonl.2.zst");
    let plain = "{\"ts\":\"t0\",\"actor\":\"old\",\"action\":\"login\"}\n";
    fs::write(&rotated, zstd::encode_all(plain.as_bytes(), 3).unwrap()).unwrap();
    let s = store(dir.path());
    let report = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    assert_eq!(report.versions.into_iter().collect::<Vec<_>>(), [(1, 3)]);
    let text = zstd::decode_all(&fs::read(&rotated).unwrap()[..]).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n\
         {\"ts\":\"t0\",\"user\":\"old\",\"action\":\"login\",\"severity\":\"info\"}\n"
    );
    verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    let text = zstd::decode_all(&fs::read(&rotated).unwrap()[..]).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), plain);
}

#[test]
fn compressed_snapshots_restore_the_same_bytes() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let s = store(dir.path()).compress_snapshots(true);
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let snapshots = verchain::snapshots(&s).unwrap();
    assert_eq!(snapshots.len(), 1);
    let stored: Vec<String> = fs::read_dir(&snapshots[0].path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".snapshot.zst"))
        .collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn a_damaged_snapshot_is_refused_before_anything_is_restored() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let after = read_tree(dir.path());
    let snapshot = &verchain::snapshots(&s).unwrap()[0];
    // A hard link shares the log's old bytes: replace the copy instead.
    let kept = snapshot.path.join("audit.jsonl.1");
    fs::remove_file(&kept).unwrap();
    fs::write(&kept, "{}\n").unwrap();
    let err =
        verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("audit.jsonl.1: size mismatch"),
        "{message}"
    );
    assert_eq!(read_tree(dir.path()), after);
}

#[test]
fn a_restore_that_would_lose_records_appended_since_is_refused() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(log_in(dir.path()))
        .unwrap();
    log.write_all(
        b"{\"ts\":\"later\",\"user\":\"z\",\"action\":\"login\",\"severity\":\"info\"}\n",
    )
    .unwrap();
    drop(log);
    let after = read_tree(dir.path());
    let err =
        verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap_err();
    assert!(
        matches!(log_error(&err), LogError::ChangedSinceRun { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("would lose"), "{err}");
    assert_eq!(read_tree(dir.path()), after);
}

/// The log a step of [`Growing`] appends to while the run reads it.
static GROWING: Mutex<Option<Utf8PathBuf>> = Mutex::new(None);

/// A chain whose step appends to the log mid-run, as a live writer would.
#[derive(Chain)]
#[chain(current = 2, record = LogRecord)]
struct Growing;

/// Appends a record to the log when it sees the first one.
#[migration(chain = Growing, from = 1, to = 2)]
fn append_while_running(record: &mut LogRecord) {
    if record.line_number() == 1
        && let Some(path) = GROWING.lock().unwrap().as_ref()
    {
        let mut log = fs::OpenOptions::new().append(true).open(path).unwrap();
        log.write_all(b"{\"late\":true}\n").unwrap();
    }
    record.set("seen", true);
}

#[test]
fn a_log_that_grows_during_the_run_is_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    fs::write(&path, "{\"a\":1}\n{\"a\":2}\n").unwrap();
    *GROWING.lock().unwrap() = Some(path.clone());
    let err = verchain::migrate::<Growing>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    *GROWING.lock().unwrap() = None;
    assert!(err.store_unchanged());
    let ErrorKind::ChangedDuringRun {
        path: changed,
        what,
        kept: None,
    } = &*err.kind
    else {
        panic!("not a change during the run: {err}");
    };
    assert_eq!(changed, &path);
    assert_eq!(what, "grew from 16 to 30 bytes");
    assert!(err.to_string().contains("run_startup"), "{err}");
    // The late record is still there and nothing else changed.
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"a\":1}\n{\"a\":2}\n{\"late\":true}\n"
    );
    assert!(verchain::snapshots(&store(dir.path())).unwrap().is_empty());
    // Once writers stop, the same run goes through.
    verchain::migrate::<Growing>(&store(dir.path()), &RunOptions::default()).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "{\"_meta\":{\"schema_version\":2}}\n{\"a\":1,\"seen\":true}\n{\"a\":2,\"seen\":true}\n{\"late\":true,\"seen\":true}\n"
    );
}

/// A chain whose step fails on one record and panics on another.
#[derive(Chain)]
#[chain(current = 2, record = LogRecord)]
struct Picky;

/// Refuses records without `ok`, panics on `boom`.
#[migration(chain = Picky, from = 1, to = 2)]
fn picky(record: &mut LogRecord) -> Result<(), verchain::BoxError> {
    if record.contains("boom") {
        panic!("boom on purpose");
    }
    if !record.contains("ok") {
        return Err("no `ok` field".into());
    }
    Ok(())
}

#[test]
fn a_step_error_or_panic_names_the_step_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    fs::write(&path, "{\"ok\":1}\n{\"nope\":2}\n").unwrap();
    let err = verchain::migrate::<Picky>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "chain `Picky`, stage `stage`: step `picky` (v1 → v2) failed on {path} line 2 (byte 9): \
             no `ok` field"
        )
    );
    fs::write(&path, "{\"ok\":1,\"boom\":1}\n").unwrap();
    let err = verchain::migrate::<Picky>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("step `picky` (v1 → v2) panicked on"),
        "{err}"
    );
    assert!(
        err.to_string().contains("line 1 (byte 0): boom on purpose"),
        "{err}"
    );
}

#[test]
fn validation_failures_are_reported_and_block_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    // No `ts`: a version 3 record must have one.
    let text =
        "{\"actor\":\"a\",\"action\":\"x\"}\n{\"ts\":\"t\",\"actor\":\"b\",\"action\":\"y\"}\n";
    fs::write(&path, text).unwrap();
    let s = store(dir.path());
    let report = verchain::migrate::<Audit>(&s, &dry()).unwrap();
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].version, 3);
    assert!(
        report.failures[0]
            .message
            .starts_with("line 1 (byte 0): does not read as"),
        "{}",
        report.failures[0]
    );
    let err = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Validate);
    assert!(
        err.to_string().contains("1 record failed validation; "),
        "{err}"
    );
    assert!(err.to_string().contains("missing field `ts`"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn run_startup_creates_a_missing_log_and_then_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    assert_eq!(
        verchain::run_startup::<Audit>(&s).unwrap(),
        Startup::UpToDate { version: 3 }
    );
    assert_eq!(
        fs::read_to_string(s.path()).unwrap(),
        "{\"_meta\":{\"schema_version\":3}}\n"
    );
    assert_eq!(
        verchain::run_startup::<Audit>(&s).unwrap(),
        Startup::UpToDate { version: 3 }
    );
    assert!(verchain::history(&s).unwrap().is_empty());
}

#[test]
fn run_startup_migrates_an_old_log() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    let Startup::Migrated(report) = verchain::run_startup::<Audit>(&s).unwrap() else {
        panic!("not migrated");
    };
    assert_eq!(report.target, 3);
    assert_eq!(read_tree(dir.path()), fixture("audit/v3"));
    let status = verchain::status::<Audit>(&s).unwrap();
    assert_eq!(status.stamp, Some(3));
    assert!(status.pending.is_empty());
    assert_eq!(status.snapshots, 1);
}

#[test]
fn status_and_verify_read_without_writing() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    let status = verchain::status::<Audit>(&s).unwrap();
    assert_eq!(status.stamp, Some(1));
    assert_eq!(status.versions.into_iter().collect::<Vec<_>>(), [(1, 2)]);
    assert_eq!(
        status.pending.iter().map(|p| p.id).collect::<Vec<_>>(),
        ["add_header", "rename_actor"]
    );
    assert!(!dir.path().join(".verchain").exists());
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let verchain::run::Verified {
        checked: records,
        failures,
        ..
    } = verchain::verify::<Audit>(&s).unwrap();
    assert_eq!((records, failures.len()), (13, 0));
    let mut log = fs::OpenOptions::new().append(true).open(s.path()).unwrap();
    log.write_all(b"{\"user\":\"no-ts\",\"action\":\"x\",\"severity\":\"info\"}\n")
        .unwrap();
    let verchain::run::Verified {
        checked: records,
        failures,
        ..
    } = verchain::verify::<Audit>(&s).unwrap();
    assert_eq!(records, 14);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].path, s.path());
    assert!(
        failures[0].message.starts_with("line 13 "),
        "{}",
        failures[0]
    );
}

#[test]
fn snapshots_are_listed_newest_first_and_pruned() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    verchain::migrate::<Audit>(&s, &to(2)).unwrap();
    verchain::migrate::<Audit>(&s, &to(3)).unwrap();
    let list = verchain::snapshots(&s).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].manifest.from_version, list[0].manifest.to_version),
        (2, 3)
    );
    let removed = verchain::prune_snapshots::<Audit>(&s, 1).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].manifest.to_version, 2);
    assert_eq!(verchain::snapshots(&s).unwrap().len(), 1);
}

#[test]
fn a_second_runner_is_refused_while_the_first_holds_the_lock() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    // A restore holds the lock like any run; take it from a dry run's view.
    verchain::migrate::<Audit>(&s, &to(2)).unwrap();
    let lock = s.state_dir().join("lock");
    let held = fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let err = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Lock);
    assert!(err.to_string().contains("is locked by"), "{err}");
    drop(held);
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
}

/// A version 1 log of `n` records, about 100 bytes each.
fn many_records(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "{{\"ts\":\"2024-05-01T00:00:{:02}Z\",\"actor\":\"user-{i}\",\"action\":\"login\",\"n\":{i}}}\n",
                i % 60
            )
        })
        .collect()
}

#[test]
fn a_log_of_many_chunks_comes_out_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let n = 50_000;
    let text = many_records(n);
    assert!(text.len() > 3 << 20, "several chunks of a megabyte");
    fs::write(&path, &text).unwrap();
    // Through the header step first, so the second run reads a header too.
    verchain::migrate::<Audit>(&store(dir.path()), &to(2)).unwrap();
    let report = verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap();
    assert_eq!(report.counts.changed, n);
    let out = fs::read_to_string(&path).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some(r#"{"_meta":{"schema_version":3,"log":"audit"}}"#)
    );
    for (i, (got, old)) in lines.zip(text.lines()).enumerate() {
        let want =
            old.replacen("\"actor\"", "\"user\"", 1)
                .replacen('}', ",\"severity\":\"info\"}", 1);
        assert_eq!(got, want, "record {i}");
    }
    assert_eq!(out.lines().count(), n + 1);
}

#[test]
fn of_two_bad_lines_far_apart_the_first_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let mut lines: Vec<String> = many_records(50_000).lines().map(str::to_owned).collect();
    lines[20_000] = "{\"first\":".to_owned();
    lines[45_000] = "{\"second\":".to_owned();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(&path, &text).unwrap();
    let offset: usize = lines[..20_000].iter().map(|l| l.len() + 1).sum();
    let err = verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    let LogError::Malformed {
        line, offset: at, ..
    } = log_error(&err)
    else {
        panic!("not a malformed line: {err}");
    };
    assert_eq!((*line, *at), (20_001, offset as u64));
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_line_longer_than_a_chunk_is_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let long = "é".repeat(1_500_000);
    let text = format!(
        "{{\"ts\":\"t1\",\"actor\":\"a\",\"action\":\"x\"}}\n{{\"ts\":\"t2\",\"actor\":\"{long}\",\"action\":\"y\"}}\n{{\"ts\":\"t3\",\"action\":\"z\"}}"
    );
    fs::write(&path, &text).unwrap();
    let report = verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap();
    assert_eq!(report.counts.changed, 3);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!(
            "{{\"_meta\":{{\"schema_version\":3,\"log\":\"audit\"}}}}\n\
             {{\"ts\":\"t1\",\"user\":\"a\",\"action\":\"x\",\"severity\":\"info\"}}\n\
             {{\"ts\":\"t2\",\"user\":\"{long}\",\"action\":\"y\",\"severity\":\"info\"}}\n\
             {{\"ts\":\"t3\",\"action\":\"z\",\"severity\":\"info\"}}"
        )
    );
}

/// Memory stays flat: a 50 MiB log migrates in a process whose peak
/// resident set stays far below the log's size (the bound is generous: the
/// point is that the log is never held whole).
#[cfg(target_os = "linux")]
#[test]
fn migrating_a_50_mib_log_keeps_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let mut log = std::io::BufWriter::new(fs::File::create(&path).unwrap());
    let filler = "x".repeat(200);
    let mut records = 0;
    let mut size = 0;
    while size < 50 << 20 {
        let line = format!(
            "{{\"ts\":\"2024-05-01T00:00:00Z\",\"actor\":\"user-{records}\",\"action\":\"login\",\"note\":\"{filler}\"}}\n"
        );
        log.write_all(line.as_bytes()).unwrap();
        size += line.len();
        records += 1;
    }
    drop(log);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_log-migrate"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (changed, peak_kb) = stdout.trim().split_once(' ').unwrap();
    assert_eq!(changed.parse::<usize>().unwrap(), records);
    let peak_kb: u64 = peak_kb.parse().unwrap();
    assert!(peak_kb > 0);
    assert!(
        peak_kb < 40 * 1024,
        "peak RSS {peak_kb} kB for a {size}-byte log"
    );
    // `actor` became `user` (one byte less), `,"severity":"info"` came in.
    let header = "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n";
    assert_eq!(
        fs::metadata(&path).unwrap().len() as usize,
        header.len() + size + records * 17
    );
}

/// Writes what a run that crashed mid-commit leaves: the new file beside the
/// log, and the journal naming the rename.
fn crash_mid_commit(dir: &Path, new: &str, keep_temp: bool) -> Utf8PathBuf {
    let s = store(dir);
    fs::create_dir_all(s.state_dir()).unwrap();
    let temp = utf8(dir).join(".audit.jsonl.verchain-crashed");
    if keep_temp {
        fs::write(&temp, new).unwrap();
    }
    let history = serde_json::json!({
        "run_id": "crashed", "chain": "audit", "step": "rename_actor", "from": 2, "to": 3,
        "description": "", "checksum": null, "started": "", "finished": "", "duration_ms": 0,
        "outcome": "applied", "snapshot": null,
        "counts": {"changed": 1, "unchanged": 0, "created": 0, "removed": 0},
        "host": "h", "verchain": "0",
    });
    let journal = serde_json::json!({
        "run_id": "crashed",
        "snapshot": null,
        "renames": [{"from": ".audit.jsonl.verchain-crashed", "to": "audit.jsonl", "size": new.len()}],
        "history": [history.to_string()],
    });
    fs::write(s.state_dir().join("journal.json"), journal.to_string()).unwrap();
    temp
}

#[test]
fn a_commit_interrupted_by_a_crash_is_finished_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let new = "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n{\"ts\":\"t\",\"user\":\"a\",\"action\":\"x\",\"severity\":\"info\"}\n";
    fs::write(&path, "{\"_meta\":{\"schema_version\":2,\"log\":\"audit\"}}\n{\"ts\":\"t\",\"actor\":\"a\",\"action\":\"x\"}\n").unwrap();
    let temp = crash_mid_commit(dir.path(), new, true);
    let s = store(dir.path());
    // A dry run cannot finish it, and says so.
    let err = verchain::migrate::<Audit>(&s, &dry()).unwrap_err();
    assert_eq!(err.stage, Stage::Recover);
    assert!(verchain::recover::<Audit>(&s).unwrap());
    assert_eq!(fs::read_to_string(&path).unwrap(), new);
    assert!(!temp.exists());
    assert!(!s.state_dir().join("journal.json").exists());
    let history = verchain::history(&s).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].outcome, Outcome::Recovered);
    // Finishing it again (a crash during recovery) changes nothing more.
    assert!(!verchain::recover::<Audit>(&s).unwrap());
    assert_eq!(verchain::history(&s).unwrap().len(), 1);
}

/// What a run that crashed mid-commit leaves (see [`crash_mid_commit`]),
/// the log at `old` when the run read it, with what the journal keeps of
/// it; returns the new file and the journal.
fn crash_mid_commit_having_read(
    dir: &Path,
    path: &Utf8Path,
    old: &str,
    new: &str,
) -> (Utf8PathBuf, Utf8PathBuf) {
    use std::os::unix::fs::MetadataExt;
    fs::write(path, old).unwrap();
    let temp = crash_mid_commit(dir, new, true);
    let journal_path = store(dir).state_dir().join("journal.json");
    let mut journal: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&journal_path).unwrap()).unwrap();
    let meta = fs::metadata(path).unwrap();
    journal["renames"][0]["was"] = serde_json::json!({
        "size": meta.len(),
        "modified": [meta.mtime(), meta.mtime_nsec()],
        "blake3": verchain::snapshot::blake3_hex(old.as_bytes()),
    });
    fs::write(&journal_path, journal.to_string()).unwrap();
    (temp, journal_path)
}

#[test]
fn a_recovery_never_drops_a_line_appended_after_the_crashed_run_read_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let old = "{\"_meta\":{\"schema_version\":2,\"log\":\"audit\"}}\n{\"ts\":\"t\",\"actor\":\"a\",\"action\":\"x\"}\n";
    let new = "{\"_meta\":{\"schema_version\":3,\"log\":\"audit\"}}\n{\"ts\":\"t\",\"user\":\"a\",\"action\":\"x\",\"severity\":\"info\"}\n";
    let appended = "{\"ts\":\"u\",\"actor\":\"b\",\"action\":\"y\"}\n";
    let append = || {
        let mut log = fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut log, appended.as_bytes()).unwrap();
    };
    let s = store(dir.path());
    // `append`: a line is appended to the log before the next run recovers.
    let case = |appends: bool| {
        let (temp, journal_path) = crash_mid_commit_having_read(dir.path(), &path, old, new);
        if appends {
            append();
        }
        assert!(verchain::recover::<Audit>(&s).unwrap());
        assert!(!temp.exists());
        assert!(!journal_path.exists());
        let history = verchain::history(&s).unwrap();
        fs::remove_file(s.history_path()).unwrap();
        let last = history.last().unwrap();
        (
            fs::read_to_string(&path).unwrap(),
            last.outcome,
            last.description.clone(),
        )
    };
    // Nothing appended: the recovery finishes the commit (what the journal
    // kept of the log reads back exactly).
    let (text, outcome, _) = case(false);
    assert_eq!((text.as_str(), outcome), (new, Outcome::Recovered));
    // A line appended before the commit renamed the new file over the log
    // (the old one kept aside, with the line): the recovery stops, naming
    // the log, and the line stays where it is.
    let (temp, journal_path) = crash_mid_commit_having_read(dir.path(), &path, old, new);
    append();
    let kept = dir.path().join(".audit.jsonl.verchain-crashed.orig");
    fs::hard_link(&path, &kept).unwrap();
    fs::rename(&temp, &path).unwrap();
    let err = verchain::recover::<Audit>(&s).unwrap_err().to_string();
    assert!(err.contains("changed after the run read it"), "{err}");
    assert!(
        err.contains(&format!(
            "the interrupted commit had moved that file to {}",
            kept.display()
        )),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(&kept).unwrap(),
        format!("{old}{appended}")
    );
    assert!(journal_path.exists());
    fs::remove_file(&journal_path).unwrap();
    fs::remove_file(&kept).unwrap();
    // A line appended: the run is given up, the line kept.
    let (text, outcome, description) = case(true);
    assert_eq!(text, format!("{old}{appended}"));
    assert_eq!(outcome, Outcome::Abandoned);
    assert!(
        description.contains("audit.jsonl") && description.contains("grew from"),
        "{description}"
    );
}

#[test]
fn a_log_put_back_at_the_new_files_size_is_not_taken_for_the_migrated_one() {
    // An undo a crash cut short put the old log back; the new file is
    // gone, and the old one happens to have its size.
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let old = "{\"actor\":\"abc\"}\n";
    let new = "{\"user\":\"abcd\"}\n";
    assert_eq!(old.len(), new.len());
    let (temp, journal_path) = crash_mid_commit_having_read(dir.path(), &path, old, new);
    fs::remove_file(&temp).unwrap();
    let err = verchain::recover::<Audit>(&store(dir.path())).unwrap_err();
    assert!(
        err.to_string().contains("is not the migrated version"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), old);
    assert!(journal_path.exists());
}

#[test]
fn a_rename_done_before_the_crash_is_recognised_and_a_lost_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    let new = "{\"_meta\":{\"schema_version\":3}}\n";
    // The rename happened; only the journal's removal did not.
    fs::write(&path, new).unwrap();
    crash_mid_commit(dir.path(), new, false);
    let s = store(dir.path());
    assert!(verchain::recover::<Audit>(&s).unwrap());
    assert_eq!(fs::read_to_string(&path).unwrap(), new);
    // The new file is gone and the log is not it: refuse, keep the journal.
    fs::write(&path, "{\"actor\":\"old\"}\n").unwrap();
    crash_mid_commit(dir.path(), new, false);
    let err = verchain::recover::<Audit>(&s).unwrap_err();
    assert_eq!(err.stage, Stage::Recover);
    assert!(
        err.to_string().contains("is not the migrated version"),
        "{err}"
    );
    assert!(s.state_dir().join("journal.json").exists());
}

#[test]
fn a_run_tells_its_observer_what_it_does() {
    let dir = fixture_copy("audit/v1");
    let bytes: u64 = ["audit.jsonl", "audit.jsonl.1"]
        .iter()
        .map(|f| fs::metadata(dir.path().join(f)).unwrap().len())
        .sum();
    let events = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&events);
    let options = RunOptions {
        observer: Some(verchain::Observer::new(move |e| {
            seen.lock().unwrap().push(serde_json::to_value(e).unwrap());
        })),
        ..RunOptions::default()
    };
    verchain::migrate::<Audit>(&store(dir.path()), &options).unwrap();
    let events = events.lock().unwrap();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    // Every file's version is read (with its progress) before the run starts.
    let start = names.iter().position(|n| *n == "run_started").unwrap();
    assert!(
        events[..start].iter().all(|e| e["stage"] == "detect"),
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"committed"));
    for name in [
        "stage_started",
        "step_started",
        "progress",
        "step_finished",
        "snapshot_written",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert_eq!(events[start]["records"], 2, "two files to migrate");
    let last_progress = events
        .iter()
        .rev()
        .find(|e| e["event"] == "progress" && e["stage"] == "stage")
        .unwrap();
    assert_eq!(last_progress["done"], bytes);
    assert_eq!(last_progress["total"], bytes);
    let finished: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "step_finished")
        .collect();
    assert_eq!(finished[1]["step"], "rename_actor");
    assert_eq!(finished[1]["counts"]["changed"], 13);
    assert_eq!(events.last().unwrap()["version"], 3);
}

#[test]
fn one_step_run_alone_is_an_operator_override_in_the_history() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    let report = verchain::migrate_step::<Audit>(&s, "add_header", &RunOptions::default()).unwrap();
    assert_eq!(report.target, 2);
    assert_eq!(read_tree(dir.path()), fixture("audit/v2"));
    let history = verchain::history(&s).unwrap();
    assert!(history[0].operator_override);
    assert!(
        history[0].description.starts_with("OPERATOR OVERRIDE"),
        "{}",
        history[0].description
    );
    // No file is at the step's version any more: nothing to run, nothing
    // recorded.
    let err =
        verchain::migrate_step::<Audit>(&s, "add_header", &RunOptions::default()).unwrap_err();
    assert!(err.store_unchanged());
    assert!(
        err.to_string()
            .contains("step `add_header` reads v1, and no record is at v1"),
        "{err}"
    );
    assert_eq!(read_tree(dir.path()), fixture("audit/v2"));
    assert_eq!(verchain::history(&s).unwrap().len(), 1);
    let err = verchain::migrate_step::<Audit>(&s, "no_such_step", &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no_such_step"), "{err}");
}

#[test]
fn a_step_edited_after_it_was_applied_is_refused_unless_allowed() {
    let dir = fixture_copy("audit/v1");
    let s = store(dir.path());
    verchain::migrate::<Audit>(&s, &to(2)).unwrap();
    // The history says `add_header` was applied with other source.
    let history = fs::read_to_string(s.history_path()).unwrap();
    let step = &Audit::steps()[0];
    let other = format!("{}:{}", verchain::chain::CHECKSUM_ALGORITHM, "0".repeat(64));
    fs::write(s.history_path(), history.replace(step.checksum(), &other)).unwrap();
    assert_eq!(
        verchain::status::<Audit>(&s)
            .unwrap()
            .edited_since_applied
            .len(),
        1
    );
    let before = read_tree(dir.path());
    let err = verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Plan);
    assert!(err.to_string().contains("add_header"), "{err}");
    assert_eq!(read_tree(dir.path()), before);
    let allowed = RunOptions {
        allow_changed: true,
        ..RunOptions::default()
    };
    verchain::migrate::<Audit>(&s, &allowed).unwrap();
    let last = verchain::history(&s).unwrap().pop().unwrap();
    assert!(
        last.description.starts_with("RUN WITH --allow-changed"),
        "{}",
        last.description
    );
}

#[test]
fn a_command_line_entry_sets_its_log_up_wherever_the_log_is() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let entry = verchain::cli::log_chain_with::<Audit>("elsewhere/audit.jsonl", |store| {
        store.without_rotated()
    });
    let log = log_in(dir.path());
    let args = ["xtask", "migrate", "-q", "--store", log.as_str()];
    let code = verchain::cli::run(&[entry], args.map(String::from));
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
    let after = read_tree(dir.path());
    assert_ne!(after["audit.jsonl"], before["audit.jsonl"]);
    assert_eq!(
        after["audit.jsonl.1"], before["audit.jsonl.1"],
        "the entry's setup leaves rotated files out"
    );
}

#[test]
fn the_store_agnostic_calls_run_a_log_as_they_run_a_folder() {
    let dir = fixture_copy("audit/v1");
    let log = store(dir.path());
    let report = verchain::migrate::<Audit>(&log, &RunOptions::default()).unwrap();
    assert_eq!(report.target, Audit::CURRENT);
    assert_eq!(read_tree(dir.path()), fixture("audit/v3"));
    assert!(verchain::status::<Audit>(&log).unwrap().pending.is_empty());
    assert_eq!(verchain::history(&log).unwrap().len(), 2);
    verchain::rollback::<Audit>(&log, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(read_tree(dir.path()), fixture("audit/v1"));
    assert_eq!(
        verchain::prune_snapshots::<Audit>(&log, 0).unwrap().len(),
        2
    );
}

#[test]
fn a_log_named_like_a_folder_stores_own_files_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = utf8(dir.path()).join("history.jsonl");
    fs::write(&log, "{\"actor\":\"ana\",\"action\":\"login\"}\n").unwrap();
    let before = read_tree(dir.path());
    for options in [RunOptions::default(), dry()] {
        let err = verchain::migrate::<Audit>(&LogStore::new(&log), &options).unwrap_err();
        assert!(
            matches!(log_error(&err), LogError::ReservedName { name, .. } if name == "history.jsonl"),
            "{err}"
        );
        assert!(err.to_string().contains("rename the log"), "{err}");
    }
    let s = LogStore::new(&log);
    assert!(verchain::status::<Audit>(&s).is_err());
    let err = verchain::history(&s).unwrap_err();
    assert!(
        matches!(err.store_error(), Some(LogError::ReservedName { .. })),
        "{err}"
    );
    // Refused in any letter case: the folder may be on a file system that
    // ignores case.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = utf8(elsewhere.path()).join("Snapshots");
    fs::write(&other, "").unwrap();
    assert!(verchain::snapshots(&LogStore::new(&other)).is_err());
    assert_eq!(read_tree(dir.path()), before);
    assert!(!dir.path().join(".verchain").exists());
}

#[test]
fn a_rename_onto_a_field_the_record_already_has_stops_the_run_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_in(dir.path());
    fs::write(
        &path,
        "{\"ts\":\"t1\",\"actor\":\"a\",\"action\":\"x\"}\n\
         {\"ts\":\"t2\",\"actor\":\"b\",\"user\":\"kept\",\"action\":\"y\"}\n",
    )
    .unwrap();
    let before = read_tree(dir.path());
    let err = verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap_err();
    assert_eq!(err.stage, Stage::Stage);
    assert!(err.store_unchanged());
    let message = err.to_string();
    assert!(
        message.contains("step `rename_actor` (v2 → v3)"),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
    assert!(
        message.contains("cannot rename `actor` to `user`: there is a `user` already"),
        "{message}"
    );
    assert_eq!(read_tree(dir.path()), before);
}

#[test]
fn a_byte_order_mark_stays_at_the_start_of_the_log_before_its_header() {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let dir = fixture_copy("audit/v1");
    let path = log_in(dir.path());
    let marked = [BOM, &fs::read(&path).unwrap()].concat();
    fs::write(&path, &marked).unwrap();
    let s = store(dir.path());
    verchain::migrate::<Audit>(&s, &RunOptions::default()).unwrap();
    let golden = &fixture("audit/v3")["audit.jsonl"];
    assert_eq!(fs::read(&path).unwrap(), [BOM, golden].concat());
    assert_eq!(verchain::status::<Audit>(&s).unwrap().stamp, Some(3));
    verchain::rollback::<Audit>(&s, &RollbackTo::LastRun, &RunOptions::default()).unwrap();
    assert_eq!(fs::read(&path).unwrap(), marked);

    // A malformed line's offset counts the mark's three bytes.
    let other = tempfile::tempdir().unwrap();
    fs::write(
        log_in(other.path()),
        b"\xEF\xBB\xBF{\"ts\":\"t1\"}\n{oops\n",
    )
    .unwrap();
    let err = verchain::migrate::<Audit>(&store(other.path()), &RunOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("line 2 (byte 15)"), "{message}");
}

#[test]
fn a_failed_command_leaves_no_state_folder_behind_on_a_log_it_created_it_in() {
    let dir = fixture_copy("audit/v1");
    let before = read_tree(dir.path());
    let s = store(dir.path());
    let state = dir.path().join(".verchain");
    let failures: Vec<(&str, Failing<LogStore>)> = vec![
        ("rollback with nothing to roll back", |s| {
            verchain::rollback::<Audit>(s, &RollbackTo::LastRun, &RunOptions::default())
                .unwrap_err()
        }),
        ("rollback to a snapshot that is not there", |s| {
            let to = RollbackTo::Snapshot("nope".into());
            verchain::rollback::<Audit>(s, &to, &RunOptions::default()).unwrap_err()
        }),
        ("rollback above the log's version", |s| {
            let to = RollbackTo::Version(3);
            verchain::rollback::<Audit>(s, &to, &RunOptions::default()).unwrap_err()
        }),
    ];
    for (what, fails) in failures {
        let err = fails(&s);
        assert!(err.store_unchanged(), "{what}: {err}");
        assert!(!state.exists(), "{what} left {state:?}: {err}");
    }
    assert_eq!(read_tree(dir.path()), before);
}

/// A command that fails on a store, and its error.
type Failing<S> = fn(&S) -> verchain::RunError;

/// A line appended to the log once the commit has begun (after the run's
/// last look at the file, before its new file replaces it) is never lost:
/// the commit is undone and the log keeps the line.
#[test]
fn a_line_appended_during_the_commit_is_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(dir.path(), &fixture("audit/v1"));
    let path = log_in(dir.path());
    let appended = path.clone();
    let options = RunOptions {
        observer: Some(verchain::Observer::new(move |e| {
            if let verchain::Event::StageStarted {
                stage: Stage::Commit,
                ..
            } = e
            {
                let mut log = fs::OpenOptions::new().append(true).open(&appended).unwrap();
                log.write_all(b"{\"ts\":\"late\",\"user\":\"z\",\"action\":\"login\"}\n")
                    .unwrap();
            }
        })),
        ..RunOptions::default()
    };
    let before = fs::read_to_string(&path).unwrap();
    let err = verchain::migrate::<Audit>(&store(dir.path()), &options).unwrap_err();
    assert!(err.store_unchanged(), "{err}");
    assert!(err.to_string().contains("put back"), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("{path} changed after the run read it (grew from")),
        "{message}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        format!("{before}{{\"ts\":\"late\",\"user\":\"z\",\"action\":\"login\"}}\n")
    );
}

/// A record with a name twice in one object (at the top or deeper, spelled
/// alike or with escapes) is refused, naming its line and the name: a step
/// would see only the last value, and a rewrite would keep the first beside
/// it. Nothing changes.
#[test]
fn a_record_with_a_name_twice_is_refused_and_named() {
    for (line, name) in [
        (
            r#"{"ts":"t","actor":"first","actor":"last","action":"login"}"#,
            "actor",
        ),
        (
            r#"{"ts":"t","actor":"a","action":"login","ctx":{"ip":"1","ip":"2"}}"#,
            "ip",
        ),
        (
            r#"{"ts":"t","actor":"a","action":"login","\u0061ctor":"b"}"#,
            "actor",
        ),
        (
            r#"{"ts":"t","actor":"a","action":"login","ctx":[{"k":1,"\u006b":2}]}"#,
            "k",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = log_in(dir.path());
        let text = format!("{{\"ts\":\"t0\",\"actor\":\"x\",\"action\":\"login\"}}\n{line}\n");
        fs::write(&path, &text).unwrap();
        let err =
            verchain::migrate::<Audit>(&store(dir.path()), &RunOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("line 2"), "{line}: {message}");
        assert!(
            message.contains(&format!("duplicate key `{name}`")),
            "{line}: {message}"
        );
        assert!(err.store_unchanged(), "{line}: {message}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "{line}");
    }
}
