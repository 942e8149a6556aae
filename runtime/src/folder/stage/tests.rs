//! Staging's own checks, on made-up file systems.

use super::*;

/// A document whose folder is on another file system than the staging
/// folder is refused, naming it; its neighbours on the store's file system
/// are not.
#[test]
fn a_document_on_another_file_system_is_refused_before_it_is_staged() {
    let mut files = StagedFiles::new(Utf8PathBuf::from("/store/.verchain/staging/r1"));
    files.device = Some(1);
    files.device_of = |p| {
        Some(if p.as_str().contains("/mounted") {
            2
        } else {
            1
        })
    };
    let root = Utf8Path::new("/store");
    files.check_device(root, "a.md".into()).unwrap();
    files.check_device(root, "notes/b.md".into()).unwrap();
    let err = files
        .check_device(root, "mounted/deep/c.md".into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("mounted/deep/c.md"), "{err}");
    assert!(err.contains("another file system"), "{err}");
    // A folder found on the store's file system is not looked at again.
    files.device_of = |_| Some(3);
    files.check_device(root, "notes/d.md".into()).unwrap();
    assert!(files.check_device(root, "new/e.md".into()).is_err());
}
