//! `credentials`: see `../checks/credentials.rs` for the properties checked.
#![no_main]

#[path = "../checks/credentials.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
