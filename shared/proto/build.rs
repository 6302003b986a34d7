//! Compiles every contract under `../../proto` with protox, a pure-Rust
//! protobuf compiler, so building needs no system `protoc`. The same
//! descriptor set is written to OUT_DIR for server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from("../../proto");
    let files = [
        "estate/common/v1/common.proto",
        "estate/customers/v1/organizations.proto",
        "estate/customers/v1/api_keys.proto",
        "estate/customers/v1/members.proto",
        "estate/customers/v1/access_grants.proto",
        "estate/customers/v1/entitlements.proto",
        "estate/customers/v1/beacons.proto",
        "estate/customers/v1/sync.proto",
        "estate/customers/v1/overview.proto",
        "estate/licensing/v1/licenses.proto",
        "estate/licensing/v1/org_structure.proto",
        "estate/licensing/v1/catalog.proto",
        "estate/licensing/v1/inventory.proto",
        "estate/licensing/v1/agreements.proto",
        "estate/licensing/v1/policy.proto",
        "estate/licensing/v1/compliance.proto",
        "estate/billing/v1/service_plans.proto",
        "estate/billing/v1/partners.proto",
        "estate/billing/v1/product_licenses.proto",
        "estate/billing/v1/reports.proto",
        "estate/billing/v1/dashboard.proto",
        "estate/internal/v1/identity.proto",
        "estate/internal/v1/summaries.proto",
        // Only for reflection: the error detail types every error carries
        // (the Rust types come from tonic-types; the generated module for
        // this package is not included).
        "google/rpc/error_details.proto",
        "google/rpc/status.proto",
    ];
    println!("cargo:rerun-if-changed={}", proto_root.display());

    let file_descriptor_set = protox::compile(files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("estate_descriptor.bin"),
        file_descriptor_set.encode_to_vec(),
    )?;

    // Maps as BTreeMap: a message then encodes the same bytes every time,
    // which request fingerprints (idempotent creates) rely on.
    tonic_prost_build::configure()
        .btree_map(".")
        .build_server(true)
        .build_client(true)
        .compile_fds(file_descriptor_set)?;
    Ok(())
}
