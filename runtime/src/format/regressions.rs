//! Inputs the fuzz targets (`fuzz/`) found, each with what it must do.

use camino::Utf8Path;

use super::*;

/// Reads `text` as `path`, lets `step` change it and writes it back; the
/// result must read back as the changed document.
fn edit(path: &str, text: &str, step: impl FnOnce(&mut Document)) -> String {
    let path = Utf8Path::new(path);
    let (mut doc, parsed) = parse(path, text.as_bytes()).unwrap();
    step(&mut doc);
    let written = String::from_utf8(render(&parsed, &doc).unwrap()).unwrap();
    let (back, _) = parse(path, written.as_bytes()).unwrap();
    assert_eq!(back.fields(), doc.fields(), "{written:?}");
    written
}

#[test]
fn removing_the_last_entry_after_a_blank_line_keeps_no_final_line_break() {
    // The blank line between the entries ends the text once `b` is gone.
    let written = edit("a.yaml", "a: 1\n\nb: 2", |doc| {
        doc.remove("b");
    });
    assert_eq!(written, "a: 1");
    let written = edit(
        "a.yaml",
        "-20gs:\n\n-\n\ntma_versiV:tu-version: V9-",
        |doc| {
            doc.remove("tma_versiV:tu-version");
        },
    );
    assert_eq!(written, "-20gs:\n\n-");
    let written = edit("a.yaml", "a: 1\r\n\r\nb: 2", |doc| {
        doc.remove("b");
    });
    assert_eq!(written, "a: 1");
}

#[test]
fn a_quoted_scalar_whose_lines_start_at_column_0_is_refused_not_written_again() {
    // The event parser refuses the quoted scalar's lines at column 0, so
    // the layout cannot be edited in place; the edit is refused, naming the
    // line, rather than the whole text written again.
    for (text, key) in [
        ("title: \"Meeting:s:\nzkt\n\n\n\n\n\n\"", "title"),
        ("a: \"\n\n\"\n.b: C", ".b"),
    ] {
        let path = Utf8Path::new("a.yaml");
        let (mut doc, parsed) = parse(path, text.as_bytes()).unwrap();
        doc.remove(key);
        let message = render(&parsed, &doc).unwrap_err().to_string();
        assert!(
            message.starts_with("a.yaml line 1, column ")
                && message.contains("cannot be edited in place"),
            "{message}"
        );
    }
    // Where dropping the final line break changes nothing, it goes.
    let written = edit("a.yaml", "a: \"x\"\nb: 1", |doc| {
        doc.remove("b");
    });
    assert_eq!(written, "a: \"x\"");
}

#[test]
fn a_body_given_after_a_closing_line_at_the_end_of_the_file_starts_on_a_line_of_its_own() {
    let written = edit("a.md", "---\ntitle: x\n---", |doc| {
        doc.set_body("Some text.\n");
    });
    assert_eq!(written, "---\ntitle: x\n---\nSome text.\n");
    let written = edit("a.md", "---\r\n---", |doc| {
        doc.set_body("Some text.\r\n");
    });
    assert_eq!(written, "---\r\n---\r\nSome text.\r\n");
    // An empty body adds nothing.
    let written = edit("a.md", "---\ntitle: x\n---", |doc| {
        doc.set("title", "w");
    });
    assert_eq!(written, "---\ntitle: w\n---");
}
