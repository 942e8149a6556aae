//! Any bytes as the first line of a log, as a record and as its header:
//! see `verchain::fuzzing::jsonl_line`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::jsonl_line(data) {
        panic!("{violation}");
    }
});
