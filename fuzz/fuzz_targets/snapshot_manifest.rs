//! Any bytes as a snapshot's manifest: see `verchain::fuzzing::snapshot_manifest`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::snapshot_manifest(data) {
        panic!("{violation}");
    }
});
