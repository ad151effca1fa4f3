#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spoor_fuzz::jaeger_thrift_compact(data));
