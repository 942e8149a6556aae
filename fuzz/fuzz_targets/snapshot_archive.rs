//! Any bytes as a snapshot archive, verified and extracted: see
//! `verchain::fuzzing::snapshot_archive`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::snapshot_archive(data) {
        panic!("{violation}");
    }
});
