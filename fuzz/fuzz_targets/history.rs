//! Any bytes as a store's history file: see `verchain::fuzzing::history`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::history(data) {
        panic!("{violation}");
    }
});
