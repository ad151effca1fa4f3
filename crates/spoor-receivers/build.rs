//! Compiles the Jaeger api_v2 and Zipkin v2 protobuf definitions in `proto/` with a vendored
//! protoc, so no system package is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let include = protoc_bin_vendored::include_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Prost's codec with a prescan that refuses oversized requests before decoding them.
        .codec_path("crate::jaeger::codec::PrescanCodec")
        .compile_with_config(
            config,
            &[
                "proto/jaeger/api_v2/collector.proto",
                "proto/zipkin/zipkin.proto",
            ],
            &[
                "proto",
                // Definitions shared by several crates (the Jaeger api_v2 model).
                "../../proto",
                include.to_str().ok_or("non-utf-8 protoc include path")?,
            ],
        )?;
    // The remote sampling service is tiny and carries no spans: prost's own codec, compiled into
    // its own directory because it shares the `jaeger.api_v2` package with the collector.
    let sampling_out = std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("sampling");
    std::fs::create_dir_all(&sampling_out)?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&sampling_out)
        .compile_with_config(
            config,
            &["proto/jaeger/api_v2/sampling.proto"],
            &[
                "proto",
                include.to_str().ok_or("non-utf-8 protoc include path")?,
            ],
        )?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../../proto");
    Ok(())
}
