//! Fuzzes the TFLite reader and converter: any byte string must give Ok or Err, never a
//! panic, a hang or an allocation out of proportion to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = aifx_models::convert::convert_bytes(data, "fuzz", &[]);
});
