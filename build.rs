//! Compiles `proto/` without a system `protoc`: protox parses the files, tonic-prost-build
//! generates the code, and the encoded descriptor set is written for server reflection.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "proto/replygate/v1/drafts.proto",
        "proto/replygate/v1/review.proto",
        "proto/replygate/v1/knowledge.proto",
        "proto/replygate/v1/insights.proto",
        "proto/replygate/v1/privacy.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("replygate_descriptor.bin"),
        fds.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        // Refuses undecodable requests with INVALID_ARGUMENT (see src/api/codec.rs).
        .codec_path("crate::api::codec::ProstCodec")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
