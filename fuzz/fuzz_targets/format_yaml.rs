//! Any bytes as a YAML document: see `verchain::fuzzing::format_yaml`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::format_yaml(data) {
        panic!("{violation}");
    }
});
