//! `yaml_loader`: see `../checks/yaml_loader.rs` for the properties checked.
#![no_main]

#[path = "../checks/yaml_loader.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
