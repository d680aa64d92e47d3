//! `strip_noise`: see `../checks/strip_noise.rs` for the properties checked.
#![no_main]

#[path = "../checks/strip_noise.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
