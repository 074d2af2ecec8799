//! Fuzzes the scenario parser and validator: any input must yield a scenario or located
//! diagnostics, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match gauntlet::scenario::validate_text(Path::new("fuzz/input.yaml"), text) {
            Ok(s) => assert!(!s.name.trim().is_empty(), "a valid scenario has a name"),
            Err(d) => assert!(!d.0.is_empty(), "an Err always carries at least one diagnostic"),
        }
    }
});
