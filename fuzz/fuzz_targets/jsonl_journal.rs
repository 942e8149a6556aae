//! Any bytes as a log's commit journal: see `verchain::fuzzing::jsonl_journal`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::jsonl_journal(data) {
        panic!("{violation}");
    }
});
