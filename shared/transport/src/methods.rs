//! What a call's method allows a transport to do with it, read from the
//! protobuf contracts: whether its request is a stream (then it cannot be
//! held for a second attempt) and whether it only reads (then sending it
//! twice is harmless).

use std::collections::HashSet;
use std::sync::OnceLock;

/// What a method allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// The client sends a stream of messages.
    pub client_streaming: bool,
    /// Calling it twice has the effect of calling it once.
    pub idempotent: bool,
}

/// Verbs of methods that change nothing.
const READ_VERBS: &[&str] = &[
    "Get",
    "List",
    "BatchGet",
    "Search",
    "Export",
    "Check",
    "Authorize",
    "Resolve",
    "Describe",
    "Count",
    "Lookup",
];

/// Paths (`/package.Service/Method`) of every method with a client stream.
fn client_streams() -> &'static HashSet<String> {
    static STREAMS: OnceLock<HashSet<String>> = OnceLock::new();
    STREAMS.get_or_init(|| {
        let mut paths = HashSet::new();
        for file in estate_proto::descriptor_set().file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let service_name = service.name.unwrap_or_default();
                for method in service.method {
                    if method.client_streaming.unwrap_or(false) {
                        paths.insert(format!(
                            "/{package}.{service_name}/{}",
                            method.name.unwrap_or_default()
                        ));
                    }
                }
            }
        }
        paths
    })
}

/// What the method at `path` allows. Unknown paths are treated as
/// changing state and, when not one of ours, as possibly streaming.
pub fn classify(path: &str) -> Method {
    let name = path.rsplit('/').next().unwrap_or_default();
    let ours = path.starts_with("/estate.") || path.starts_with("/grpc.health.");
    Method {
        client_streaming: !ours || client_streams().contains(path),
        idempotent: ours && is_read_verb(name),
    }
}

fn is_read_verb(name: &str) -> bool {
    READ_VERBS.iter().any(|verb| {
        name.strip_prefix(verb).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_uppercase())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_classified_from_the_contracts() {
        let cases = [
            (
                "/estate.licensing.v1.InventoryService/IngestInventory",
                true,
                false,
            ),
            (
                "/estate.licensing.v1.LicensesService/ImportLicenses",
                true,
                false,
            ),
            (
                "/estate.licensing.v1.LicensesService/ListLicenses",
                false,
                true,
            ),
            (
                "/estate.licensing.v1.ComplianceService/CalculateCompliance",
                false,
                false,
            ),
            ("/estate.internal.v1.IdentityService/Authorize", false, true),
            ("/grpc.health.v1.Health/Check", false, true),
            (
                "/estate.customers.v1.OrganizationsService/CreateOrganization",
                false,
                false,
            ),
            (
                "/estate.customers.v1.OrganizationsService/Listen",
                false,
                false,
            ),
            ("/other.Service/GetThing", true, false),
        ];
        for (path, client_streaming, idempotent) in cases {
            assert_eq!(
                classify(path),
                Method {
                    client_streaming,
                    idempotent
                },
                "{path}"
            );
        }
    }
}
