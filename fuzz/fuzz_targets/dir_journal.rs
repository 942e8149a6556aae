//! Any bytes as a folder store's commit journal: see `verchain::fuzzing::dir_journal`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::dir_journal(data) {
        panic!("{violation}");
    }
});
