use std::sync::LazyLock;

use estate_proto::customers::{
    CreateOrganizationRequest, ListCustomerOverviewsRequest, Organization, OverviewFilter,
};
use estate_proto::licensing::{
    CreateLicenseRequest, IngestInventoryRequest, InstallationRecord, InventoryRecord, License,
    inventory_record,
};
use proptest::prelude::*;
use prost::Message;

use super::*;

static SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::new(&estate_proto::descriptor_set(), Limits::platform()));

const CREATE_ORGANIZATION: &str = "/estate.customers.v1.OrganizationsService/CreateOrganization";
const INGEST: &str = "/estate.licensing.v1.InventoryService/IngestInventory";
const CREATE_LICENSE: &str = "/estate.licensing.v1.LicensesService/CreateLicense";
const LIST_OVERVIEWS: &str = "/estate.customers.v1.CustomerOverviewService/ListCustomerOverviews";

/// The violations of `bytes` as a request of `path`, as (field, description).
fn check(path: &str, bytes: &[u8]) -> Vec<(String, String)> {
    let method = SCHEMA.method(path).expect("a method of the contracts");
    SCHEMA
        .check(method, bytes)
        .into_iter()
        .map(|violation| (violation.field, violation.description))
        .collect()
}

fn organization(display_name: &str) -> Vec<u8> {
    CreateOrganizationRequest {
        parent: "organizations/0190b7d4-0000-7000-8000-000000000000".into(),
        organization: Some(Organization {
            display_name: display_name.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn installations(count: usize, hostname: &str) -> IngestInventoryRequest {
    IngestInventoryRequest {
        records: (0..count)
            .map(|_| InventoryRecord {
                kind: Some(inventory_record::Kind::Installation(InstallationRecord {
                    hostname: hostname.into(),
                    application: "customers/x/applications/y".into(),
                })),
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn a_request_within_the_limits_passes() {
    assert_eq!(check(CREATE_ORGANIZATION, &organization("Contoso")), []);
    assert_eq!(check(CREATE_ORGANIZATION, &[]), []);
    let mut license = CreateLicenseRequest {
        license: Some(License::default()),
        ..Default::default()
    };
    let fields = &mut license.license.as_mut().unwrap().custom_fields;
    fields.insert("cost center".into(), "IT".into());
    assert_eq!(check(CREATE_LICENSE, &license.encode_to_vec()), []);
}

#[test]
fn a_long_string_is_refused_by_its_length_never_echoed() {
    let violations = check(CREATE_ORGANIZATION, &organization(&"n".repeat(16_500)));
    assert_eq!(
        violations,
        [(
            "organization.display_name".to_string(),
            "got 16,500 characters, at most 8,192".to_string()
        )]
    );
    // Characters, not bytes: 8,192 two-byte characters pass.
    assert_eq!(
        check(CREATE_ORGANIZATION, &organization(&"é".repeat(8192))),
        []
    );
}

#[test]
fn nul_and_invalid_utf8_are_refused_naming_the_field() {
    let violations = check(CREATE_ORGANIZATION, &organization("a\0b"));
    assert_eq!(
        violations,
        [(
            "organization.display_name".to_string(),
            "must not contain a NUL character".to_string()
        )]
    );
    let mut bytes = organization("abcd");
    let at = bytes
        .windows(4)
        .position(|window| window == b"abcd")
        .unwrap();
    bytes[at + 1] = 0xff;
    assert_eq!(
        check(CREATE_ORGANIZATION, &bytes),
        [(
            "organization.display_name".to_string(),
            "is not valid UTF-8".to_string()
        )]
    );
}

#[test]
fn repeated_fields_are_bounded_with_named_exceptions() {
    let filter = ListCustomerOverviewsRequest {
        filter: Some(OverviewFilter {
            statuses: vec![9; 1001],
            ..Default::default()
        }),
        ..Default::default()
    };
    // Packed on the wire, counted per element.
    assert_eq!(
        check(LIST_OVERVIEWS, &filter.encode_to_vec()),
        [(
            "filter.statuses".to_string(),
            "got 1,001 elements, at most 1,000".to_string()
        )]
    );
    // An upload message may carry up to 100,000 records.
    assert_eq!(
        check(INGEST, &installations(5000, "pc-1").encode_to_vec()),
        []
    );
    let violations = check(INGEST, &installations(100_001, "pc").encode_to_vec());
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].0, "records");
}

#[test]
fn a_bad_element_is_named_by_its_position() {
    let mut upload = installations(3, "pc-1");
    if let Some(inventory_record::Kind::Installation(installation)) = &mut upload.records[2].kind {
        installation.hostname = "x".repeat(9000);
    }
    assert_eq!(
        check(INGEST, &upload.encode_to_vec()),
        [(
            "records[2].installation.hostname".to_string(),
            "got 9,000 characters, at most 8,192".to_string()
        )]
    );
}

#[test]
fn violations_per_message_are_bounded() {
    let upload = installations(1000, &"x".repeat(9000));
    let violations = check(INGEST, &upload.encode_to_vec());
    assert_eq!(violations.len(), 20);
}

#[test]
fn bytes_that_are_not_protobuf_are_named_as_such() {
    let bytes = organization("Contoso");
    for cut in [bytes.len() - 1, 3, 1] {
        let violations = check(CREATE_ORGANIZATION, &bytes[..cut]);
        assert_eq!(violations.len(), 1, "{cut}: {violations:?}");
        assert!(
            violations[0]
                .1
                .starts_with("is not a valid protobuf encoding"),
            "{violations:?}"
        );
    }
    // `parent` (field 1) sent as a varint: the wrong wire type.
    let violations = check(CREATE_ORGANIZATION, &[0x08, 0x01]);
    assert_eq!(violations[0].0, "parent");
    // A group.
    assert_eq!(check(CREATE_ORGANIZATION, &[0x0b]).len(), 1);
    // An unknown field is skipped, as the decoder skips it.
    assert_eq!(check(CREATE_ORGANIZATION, &[0xf8, 0x06, 0x01]), []);
}

#[test]
fn status_headers_are_cut_on_a_character_boundary() {
    let mut headers = HeaderMap::new();
    // Two-byte and three-byte characters, so a byte budget falls inside
    // one somewhere.
    let message = "%C3%A9%E2%82%AC".repeat(700);
    headers.insert("grpc-message", HeaderValue::from_str(&message).unwrap());
    headers.insert("grpc-status", HeaderValue::from_static("3"));
    headers.insert(
        "grpc-status-details-bin",
        HeaderValue::from_str(&"A".repeat(MAX_STATUS_DETAILS_BYTES + 1)).unwrap(),
    );
    bound_status_headers(&mut headers);
    let cut = headers.get("grpc-message").unwrap().to_str().unwrap();
    assert!(cut.len() <= MAX_STATUS_MESSAGE_BYTES, "{}", cut.len());
    assert!(cut.ends_with("%E2%80%A6"), "{cut}");
    assert!(headers.get("grpc-status-details-bin").is_none());
    // A client reads the code it was sent and whole text.
    let status = tonic::Status::from_header_map(&headers).unwrap();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().starts_with("é€é€"), "{}", status.message());
    assert!(status.message().ends_with('…'));
}

/// Valid encodings, mutated: flipped bytes, cut short, spliced.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let length = valid.len();
    (
        proptest::collection::vec((0..length.max(1), any::<u8>()), 0..4),
        0..=length,
    )
        .prop_map(move |(flips, keep)| {
            let mut bytes = valid.clone();
            for (at, value) in flips {
                if at < bytes.len() {
                    bytes[at] = value;
                }
            }
            bytes.truncate(keep);
            bytes
        })
}

fn license_request() -> Vec<u8> {
    let mut license = License {
        vendor: "Contoso".into(),
        upgrade_of: vec![Default::default()],
        quantity: Some(Default::default()),
        ..Default::default()
    };
    license.custom_fields.insert("k".into(), "v".into());
    CreateLicenseRequest {
        parent: "customers/a".into(),
        license: Some(license),
        request_id: "r".into(),
    }
    .encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// What the check accepts, the decoder decodes: the check is at least
    /// as strict as prost, so no malformed message reaches a handler as
    /// INTERNAL.
    #[test]
    fn accepted_messages_decode(bytes in mutated(license_request())) {
        if check(CREATE_LICENSE, &bytes).is_empty() {
            prop_assert!(CreateLicenseRequest::decode(bytes.as_slice()).is_ok());
        }
    }

    #[test]
    fn accepted_uploads_decode(bytes in mutated(installations(3, "pc").encode_to_vec())) {
        if check(INGEST, &bytes).is_empty() {
            prop_assert!(IngestInventoryRequest::decode(bytes.as_slice()).is_ok());
        }
    }
}

#[test]
fn well_known_types_are_described() {
    let set = estate_proto::descriptor_set();
    let names: Vec<&str> = set.file.iter().map(|file| file.name()).collect();
    assert!(
        names.contains(&"google/protobuf/timestamp.proto"),
        "{names:?}"
    );
}

#[test]
fn a_key_beyond_32_bits_is_malformed_as_prost_reads_it() {
    // Field 2^29 as a varint key of wire type 0: five bytes, 35 bits.
    let key = 1u64 << 32; // field 2^29, wire type 0
    let mut bytes = Vec::new();
    let mut value = key;
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
    bytes.push(0x01);
    assert!(CreateOrganizationRequest::decode(bytes.as_slice()).is_err());
    let violations = check(CREATE_ORGANIZATION, &bytes);
    assert_eq!(violations.len(), 1, "{violations:?}");
}

/// The frames (or the refusal) a checked body yields for `body`.
async fn checked(path: &str, body: Body) -> Result<Vec<Bytes>, Status> {
    checked_encoded(path, body, Encoding::Identity).await
}

/// [`checked`] for a request sent with `grpc-encoding: encoding`.
async fn checked_encoded(path: &str, body: Body, encoding: Encoding) -> Result<Vec<Bytes>, Status> {
    let schema = Arc::new(Schema::new(
        &estate_proto::descriptor_set(),
        Limits::platform(),
    ));
    let method = schema.method(path).unwrap();
    let mut checked = CheckedBody::new(body, schema, method, encoding);
    let mut frames = Vec::new();
    loop {
        let frame = futures::future::poll_fn(|cx| {
            http_body::Body::poll_frame(std::pin::Pin::new(&mut checked), cx)
        })
        .await;
        match frame {
            None => return Ok(frames),
            Some(Err(status)) => return Err(status),
            Some(Ok(frame)) => frames.push(frame.into_data().unwrap()),
        }
    }
}

fn framed(flag: u8, message: &[u8]) -> Body {
    let mut bytes = vec![flag];
    bytes.extend_from_slice(&(message.len() as u32).to_be_bytes());
    bytes.extend_from_slice(message);
    Body::new(one_frame(bytes))
}

/// A body of `bytes` in one data frame.
fn one_frame(bytes: Vec<u8>) -> impl http_body::Body<Data = Bytes, Error = Status> {
    struct Once(Option<Bytes>);
    impl http_body::Body for Once {
        type Data = Bytes;
        type Error = Status;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Status>>> {
            std::task::Poll::Ready(self.0.take().map(|bytes| Ok(Frame::data(bytes))))
        }
    }
    Once(Some(Bytes::from(bytes)))
}

#[tokio::test]
async fn a_unary_call_needs_its_one_message() {
    let status = checked(CREATE_ORGANIZATION, Body::empty())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    // A streaming call may end without a message.
    assert!(checked(INGEST, Body::empty()).await.unwrap().is_empty());
    let frames = checked(CREATE_ORGANIZATION, framed(0, &organization("Contoso")))
        .await
        .unwrap();
    assert_eq!(frames.len(), 1);
    let status = checked(CREATE_ORGANIZATION, framed(0, &[0x0a, 0x05, b'a']))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

#[tokio::test]
async fn compressed_messages_are_checked_and_handed_on_decompressed() {
    let message = organization("Contoso");
    let plain = {
        let mut frame = vec![0];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        frame
    };
    for (encoding, compressed) in [
        (Encoding::Gzip, gzip(&message)),
        (Encoding::Deflate, deflate(&message)),
        (Encoding::Zstd, zstd(&message)),
    ] {
        let frames = checked_encoded(
            CREATE_ORGANIZATION,
            framed(1, &compressed),
            encoding.clone(),
        )
        .await
        .unwrap();
        assert_eq!(frames, [Bytes::from(plain.clone())], "{encoding:?}");
        // An uncompressed frame in a compressed call passes as it is.
        let frames = checked_encoded(CREATE_ORGANIZATION, framed(0, &message), encoding.clone())
            .await
            .unwrap();
        assert_eq!(frames.len(), 1);
    }
    // The check applies to what the message decompresses to.
    let bad = organization(&"x".repeat(9000));
    let status = checked_encoded(CREATE_ORGANIZATION, framed(1, &gzip(&bad)), Encoding::Gzip)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("display_name"), "{status:?}");
}

#[tokio::test]
async fn compression_cannot_smuggle_or_inflate() {
    let cases: Vec<(&str, Body, Encoding, tonic::Code)> = vec![
        // Compressed, but the call never said how.
        (
            "no encoding",
            framed(1, b"zz"),
            Encoding::Identity,
            tonic::Code::InvalidArgument,
        ),
        (
            "unknown encoding",
            framed(1, b"zz"),
            Encoding::Unsupported("br".into()),
            tonic::Code::Unimplemented,
        ),
        (
            "not gzip",
            framed(1, b"zz"),
            Encoding::Gzip,
            tonic::Code::InvalidArgument,
        ),
        (
            "not zstd",
            framed(1, b"zz"),
            Encoding::Zstd,
            tonic::Code::InvalidArgument,
        ),
        // 64 MiB of zeros compress to a few KiB: refused past the bound
        // without being expanded in full.
        (
            "bomb",
            framed(1, &gzip(&vec![0; 64 * 1024 * 1024])),
            Encoding::Gzip,
            tonic::Code::ResourceExhausted,
        ),
    ];
    for (name, body, encoding, code) in cases {
        let status = checked_encoded(CREATE_ORGANIZATION, body, encoding)
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{name}: {status:?}");
    }
}
