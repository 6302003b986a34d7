//! The platform's contracts: generated messages, clients and servers for
//! every `estate.*.v1` package, plus the encoded descriptor set that servers
//! register for reflection.
//!
//! Generated code is included as-is; nothing here is hand-written protocol.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// Encoded `FileDescriptorSet` of every contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("estate_descriptor");

pub mod estate {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("estate.common.v1");
        }
    }
    pub mod customers {
        pub mod v1 {
            tonic::include_proto!("estate.customers.v1");
        }
    }
    pub mod licensing {
        pub mod v1 {
            tonic::include_proto!("estate.licensing.v1");
        }
    }
    pub mod billing {
        pub mod v1 {
            tonic::include_proto!("estate.billing.v1");
        }
    }
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("estate.internal.v1");
        }
    }
}

pub mod fields;
pub mod names;
pub mod time;

pub use estate::billing::v1 as billing;
pub use estate::common::v1 as common;
pub use estate::customers::v1 as customers;
pub use estate::internal::v1 as internal;
pub use estate::licensing::v1 as licensing;

/// Every contract's descriptors, for reflection on backends.
pub fn descriptor_set() -> prost_types::FileDescriptorSet {
    prost::Message::decode(FILE_DESCRIPTOR_SET).expect("the embedded descriptor set is valid")
}

/// Methods every server hosts besides its own (health, reflection).
const INFRASTRUCTURE_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The request paths (`/package.Service/Method`) of the methods of the
/// services `keep` selects (by fully qualified name), as the contracts
/// declare them, and of the health and reflection methods every server
/// hosts.
pub fn method_paths(keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut paths: Vec<String> = INFRASTRUCTURE_METHODS
        .iter()
        .map(|path| path.to_string())
        .collect();
    for file in descriptor_set().file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            if keep(&name) {
                paths.extend(
                    service
                        .method
                        .iter()
                        .map(|method| format!("/{name}/{}", method.name())),
                );
            }
        }
    }
    paths
}

/// The descriptors of the public contracts only: what the gateway's
/// reflection may reveal. Internal packages are left out entirely, so not
/// even a symbol lookup can describe them.
pub fn public_descriptor_set() -> prost_types::FileDescriptorSet {
    let mut set = descriptor_set();
    set.file
        .retain(|file| !file.package().starts_with("estate.internal."));
    set
}

/// Fully qualified names of the services the gateway exposes publicly.
/// Internal services (`estate.internal.*`) are deliberately absent.
pub const PUBLIC_SERVICES: &[&str] = &[
    "estate.customers.v1.OrganizationsService",
    "estate.customers.v1.ApiKeysService",
    "estate.customers.v1.MembersService",
    "estate.customers.v1.AccessGrantsService",
    "estate.customers.v1.EntitlementsService",
    "estate.customers.v1.BeaconsService",
    "estate.customers.v1.SyncService",
    "estate.customers.v1.CustomerOverviewService",
    "estate.licensing.v1.LicensesService",
    "estate.licensing.v1.OrganizationStructureService",
    "estate.licensing.v1.CatalogService",
    "estate.licensing.v1.InventoryService",
    "estate.licensing.v1.AgreementsService",
    "estate.licensing.v1.LicensePolicyService",
    "estate.licensing.v1.ComplianceService",
    "estate.billing.v1.ServicePlansService",
    "estate.billing.v1.PartnersService",
    "estate.billing.v1.ProductLicensesService",
    "estate.billing.v1.ReportsService",
    "estate.billing.v1.DashboardService",
];
