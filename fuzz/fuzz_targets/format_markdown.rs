//! Any bytes as a Markdown document with front matter: see `verchain::fuzzing::format_markdown`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(violation) = verchain::fuzzing::format_markdown(data) {
        panic!("{violation}");
    }
});
