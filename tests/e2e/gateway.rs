//! The gateway: routing, authentication, identity stripping, failures.

use std::time::{Duration, Instant};

use estate_auth::{INTERNAL_TOKEN_HEADER, Principal, ROLE_PLATFORM_ADMIN};
use estate_e2e::{Platform, TEST_CREDENTIAL_CACHE_TTL, with_key};
use estate_proto::common::OrganizationKind;
use estate_proto::customers::api_keys_service_client::ApiKeysServiceClient;
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{
    CreateOrganizationRequest, ListOrganizationsRequest, Organization, RevokeApiKeyRequest,
};
use estate_proto::internal::ResolveCredentialRequest;
use estate_proto::internal::identity_service_client::IdentityServiceClient;
use estate_proto::licensing::ListLicensesRequest;
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::assert_code;

#[tokio::test]
async fn a_call_through_the_gateway_reaches_the_service_and_its_database() {
    let platform = Platform::spawn().await.unwrap();
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    let request = CreateOrganizationRequest {
        parent: String::new(),
        organization: Some(Organization {
            kind: OrganizationKind::Distributor.into(),
            display_name: "Northwind".into(),
            external_id: "NW-1".into(),
            ..Default::default()
        }),
        request_id: String::new(),
        initial_owner: None,
    };
    let created = client
        .create_organization(with_key(request, &platform.admin_key))
        .await
        .unwrap()
        .into_inner();

    let database = platform.database.connect().await.unwrap();
    let id: uuid::Uuid = created
        .name
        .trim_start_matches("organizations/")
        .parse()
        .unwrap();
    let row = database
        .query_one(
            "SELECT display_name, external_id, kind, create_time FROM customers.organizations WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Northwind");
    assert_eq!(row.get::<_, String>(1), "NW-1");
    assert_eq!(row.get::<_, String>(2), "distributor");
    // The pinned clock, not the wall clock, stamps the row.
    assert_eq!(
        row.get::<_, chrono::DateTime<chrono::Utc>>(3),
        estate_e2e::pinned_now()
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_call_without_a_credential_or_with_an_unknown_one_is_unauthenticated() {
    let platform = Platform::spawn().await.unwrap();
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());

    let status = assert_code(
        client
            .list_organizations(ListOrganizationsRequest::default())
            .await,
        Code::Unauthenticated,
    );
    assert!(
        status.message().contains("missing credential"),
        "{status:?}"
    );

    let unknown = with_key(ListOrganizationsRequest::default(), "estate_not-a-real-key");
    assert_code(
        client.list_organizations(unknown).await,
        Code::Unauthenticated,
    );

    let mut by_header = tonic::Request::new(ListOrganizationsRequest::default());
    by_header
        .metadata_mut()
        .insert("x-api-key", platform.admin_key.parse().unwrap());
    client
        .list_organizations(by_header)
        .await
        .expect("x-api-key is accepted too");
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_revoked_key_stops_working_once_the_credential_cache_expires() {
    let platform = Platform::spawn().await.unwrap();
    let partner = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let key = platform
        .create_api_key(&partner.name, &["admin"])
        .await
        .unwrap();
    let mut organizations =
        OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());
    let get = || {
        with_key(
            estate_proto::customers::GetOrganizationRequest {
                name: partner.name.clone(),
            },
            &key,
        )
    };
    organizations.get_organization(get()).await.unwrap();

    let mut keys = ApiKeysServiceClient::new(platform.gateway_channel().await.unwrap());
    let listed = keys
        .list_api_keys(with_key(
            estate_proto::customers::ListApiKeysRequest {
                parent: partner.name.clone(),
                ..Default::default()
            },
            &platform.admin_key,
        ))
        .await
        .unwrap()
        .into_inner();
    let revoke = RevokeApiKeyRequest {
        name: listed.api_keys[0].name.clone(),
    };
    keys.revoke_api_key(with_key(revoke, &platform.admin_key))
        .await
        .unwrap();

    tokio::time::sleep(TEST_CREDENTIAL_CACHE_TTL + Duration::from_millis(100)).await;
    assert_code(
        organizations.get_organization(get()).await,
        Code::Unauthenticated,
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn identity_metadata_sent_by_a_caller_is_ignored() {
    let platform = Platform::spawn().await.unwrap();
    let distributor = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let member_key = platform
        .create_api_key(&distributor.name, &["member"])
        .await
        .unwrap();
    // A perfectly valid administrator token (signed with the real secret),
    // as if it had leaked: the gateway must still not let a caller assert it.
    let forged = platform.signer().sign(&Principal {
        subject: "attacker".into(),
        organization_id: None,
        organization_kind: 0,
        roles: vec![ROLE_PLATFORM_ADMIN.into()],
    });
    let mut client = OrganizationsServiceClient::new(platform.gateway_channel().await.unwrap());

    // With the member's key, the call runs as the member: listing top-level
    // organizations is an administrator's privilege.
    let mut request = with_key(ListOrganizationsRequest::default(), &member_key);
    request
        .metadata_mut()
        .insert(INTERNAL_TOKEN_HEADER, forged.parse().unwrap());
    request
        .metadata_mut()
        .insert("x-estate-principal", "platform_admin".parse().unwrap());
    assert_code(
        client.list_organizations(request).await,
        Code::PermissionDenied,
    );

    // Without a key, the forged token alone authenticates nothing.
    let mut request = tonic::Request::new(ListOrganizationsRequest::default());
    request
        .metadata_mut()
        .insert(INTERNAL_TOKEN_HEADER, forged.parse().unwrap());
    assert_code(
        client.list_organizations(request).await,
        Code::Unauthenticated,
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn internal_services_are_not_reachable_through_the_gateway() {
    let platform = Platform::spawn().await.unwrap();
    let mut client = IdentityServiceClient::new(platform.gateway_channel().await.unwrap());
    let request = with_key(
        ResolveCredentialRequest {
            credential: platform.admin_key.clone(),
        },
        &platform.admin_key,
    );
    assert_code(
        client.resolve_credential(request).await,
        Code::Unimplemented,
    );
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn backends_refuse_calls_without_an_internal_token() {
    let platform = Platform::spawn().await.unwrap();
    let channel = platform.channel_to(&platform.licensing).await.unwrap();
    let mut client = LicensesServiceClient::new(channel);
    let request = ListLicensesRequest {
        parent: format!("customers/{}", uuid::Uuid::now_v7()),
        ..Default::default()
    };
    assert_code(
        client.list_licenses(request.clone()).await,
        Code::Unauthenticated,
    );

    let other_secret = estate_auth::TokenSigner::new(
        b"not the platform secret",
        platform.clock.clone(),
        Duration::from_secs(60),
    );
    let token = estate_auth::CallerToken(other_secret.sign(&Principal::service("intruder")));
    let forged = estate_e2e::with_token(request, &token);
    assert_code(client.list_licenses(forged).await, Code::Unauthenticated);
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stopped_backend_gives_unavailable_quickly() {
    let platform = Platform::spawn().await.unwrap();
    let customer = platform
        .create_organization("", OrganizationKind::Distributor, "D")
        .await
        .unwrap();
    let mut platform = platform;
    let address = platform.licensing.address;
    // Stop only the licensing service; its port now refuses connections.
    platform.licensing.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(address).await.is_err());

    let mut client = LicensesServiceClient::new(platform.gateway_channel().await.unwrap());
    let mut request = with_key(
        ListLicensesRequest {
            parent: customer.name.replacen("organizations/", "customers/", 1),
            ..Default::default()
        },
        &platform.admin_key,
    );
    request.set_timeout(Duration::from_secs(5));
    let started = Instant::now();
    let status = assert_code(client.list_licenses(request).await, Code::Unavailable);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(status.message().contains("licensing"), "{status:?}");
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn grpc_web_calls_are_translated_by_the_gateway() {
    let platform = Platform::spawn().await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(platform.gateway.address)
        .await
        .unwrap();
    // An empty ListOrganizationsRequest in one gRPC-Web frame.
    let body = [0_u8, 0, 0, 0, 0];
    let head = format!(
        "POST /estate.customers.v1.OrganizationsService/ListOrganizations HTTP/1.1\r\n\
         host: localhost\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n\
         authorization: Bearer {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        platform.admin_key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("application/grpc-web"), "{text}");
    assert!(
        text.contains("grpc-status:0"),
        "trailers frame missing: {text}"
    );
    platform.shutdown().await.unwrap();
}
