//! Any bytes as a TOML document: see `verchain::fuzzing::format_toml`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::format_toml(data) {
        panic!("{violation}");
    }
});
