//! Any bytes as a JSON document: see `verchain::fuzzing::format_json`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::format_json(data) {
        panic!("{violation}");
    }
});
