//! Compiles the `.proto` files under `proto/` into Rust at build time.
//!
//! No system `protoc` is needed: `protox` (a pure-Rust protobuf compiler)
//! parses the files into a `FileDescriptorSet`, and `tonic-prost-build`
//! turns that into prost messages plus tonic clients and servers. The encoded
//! descriptor set is also written to `OUT_DIR` for gRPC reflection.

use std::{env, fs, path::PathBuf};

/// Every file we compile, relative to the `proto/` include directory.
const PROTO_FILES: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lockpb/v3lock.proto",
    "v3electionpb/v3election.proto",
    "cairn/peer/v1/peer.proto",
    "cairn/peer/v1/member.proto",
    "cairn/internal/v1/request.proto",
    "cairn/internal/v1/views.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let include = manifest_dir.join("proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", include.display());

    let mut compiler = protox::Compiler::new([&include])?;
    compiler.include_source_info(true).include_imports(true);
    for file in PROTO_FILES {
        compiler.open_file(file)?;
    }

    fs::write(
        out_dir.join("cairn_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        // A nested Txn in a view is a slice of the buffer it came from,
        // not a copy (see views.proto).
        .bytes(".cairn.internal.v1.RequestOpView")
        .bytes(".cairn.internal.v1.ResponseOpView")
        .bytes(".cairn.internal.v1.RequestView")
        // Every service decodes through `nesting::Codec`, which lifts
        // prost's depth limit for transactions only.
        .codec_path("crate::nesting::Codec")
        .compile_fds(compiler.file_descriptor_set())?;

    Ok(())
}
