//! Reflection through the gateway describes the public contracts and
//! nothing internal, over both protocol versions tools use.

use estate_e2e::Platform;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

async fn ask(
    platform: &Platform,
    request: MessageRequest,
) -> Result<MessageResponse, tonic::Status> {
    let mut client = ServerReflectionClient::new(platform.gateway_channel().await.unwrap());
    let message = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([message]))
        .await
        .unwrap()
        .into_inner();
    let first = responses
        .message()
        .await?
        .expect("one response per request");
    Ok(first.message_response.expect("a response kind"))
}

#[tokio::test]
async fn gateway_reflection_lists_public_services_and_hides_internal_ones() {
    let platform = Platform::spawn().await.unwrap();
    let MessageResponse::ListServicesResponse(listed) =
        ask(&platform, MessageRequest::ListServices(String::new()))
            .await
            .unwrap()
    else {
        panic!("expected a service list");
    };
    let mut names: Vec<String> = listed
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    names.sort();
    let mut expected: Vec<String> = estate_proto::PUBLIC_SERVICES
        .iter()
        .map(|name| name.to_string())
        .chain(["grpc.health.v1.Health".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    let described = ask(
        &platform,
        MessageRequest::FileContainingSymbol("estate.licensing.v1.LicensesService".into()),
    )
    .await;
    assert!(matches!(
        described,
        Ok(MessageResponse::FileDescriptorResponse(_))
    ));

    let internal = ask(
        &platform,
        MessageRequest::FileContainingSymbol("estate.internal.v1.IdentityService".into()),
    )
    .await;
    // tonic-reflection reports an unknown symbol as a NOT_FOUND stream error.
    assert!(
        matches!(&internal, Err(status) if status.code() == tonic::Code::NotFound),
        "internal contracts must not be described: {internal:?}"
    );
    // The error detail types every error carries are described, so tools
    // such as grpcurl show field violations and preconditions.
    for symbol in [
        "google.rpc.BadRequest",
        "google.rpc.PreconditionFailure",
        "google.rpc.ResourceInfo",
        "google.rpc.ErrorInfo",
        "google.rpc.Status",
    ] {
        let described = ask(
            &platform,
            MessageRequest::FileContainingSymbol(symbol.into()),
        )
        .await;
        assert!(
            matches!(described, Ok(MessageResponse::FileDescriptorResponse(_))),
            "{symbol}: {described:?}"
        );
    }
    platform.shutdown().await.unwrap();
}

#[tokio::test]
async fn gateway_serves_the_v1alpha_reflection_older_grpcurl_uses() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest as AlphaMessage;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as Alpha;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    let platform = Platform::spawn().await.unwrap();
    let mut client = Alpha::new(platform.gateway_channel().await.unwrap());
    let message = AlphaMessage {
        host: String::new(),
        message_request: Some(AlphaRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([message]))
        .await
        .unwrap()
        .into_inner();
    assert!(responses.message().await.unwrap().is_some());
    platform.shutdown().await.unwrap();
}
