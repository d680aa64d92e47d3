//! `module_result`: see `../checks/module_result.rs` for the properties checked.
#![no_main]

#[path = "../checks/module_result.rs"]
mod checks;

// The set-up (compiling the rules) happens before fuzzing starts, outside the per-input timeout.
libfuzzer_sys::fuzz_target!(init: checks::init(), |data: &[u8]| checks::check(data));
