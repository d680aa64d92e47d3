//! `admission_review`: see `../checks/admission_review.rs` for the properties checked.
#![no_main]

#[path = "../checks/admission_review.rs"]
mod checks;

// The set-up (compiling the rules) happens before fuzzing starts, outside the per-input timeout.
libfuzzer_sys::fuzz_target!(init: checks::init(), |data: &[u8]| checks::check(data));
