#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spoor_fuzz::zipkin_json(data));
