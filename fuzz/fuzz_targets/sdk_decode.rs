//! `sdk_decode`: see `../checks/sdk_decode.rs` for the properties checked.
#![no_main]

#[path = "../checks/sdk_decode.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
