#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spoor_fuzz::engine_block(data));
