//! Server-side sorting of licensing lists: `order_by` with keyset page
//! tokens that resume exactly where the last page ended, ties broken by
//! creation order, and tokens that only resume the sort they came from.

use estate_e2e::Platform;
use estate_proto::licensing::catalog_service_client::CatalogServiceClient;
use estate_proto::licensing::{
    AssignmentType, InventoryRecord, ListApplicationUsageRequest, ListApplicationsRequest,
    ListComputersRequest, ListLicensesRequest, UsageRecord, UserRecord, inventory_record,
};
use estate_proto::time::to_timestamp;
use tonic::Code;

use crate::assert_code;
use crate::estate::{Estate, computer};
use crate::estate_rules::customer_estate;

/// Every license, walking pages of `page_size` sorted by `order_by`.
async fn all_licenses(estate: &Estate, order_by: &str, page_size: i32) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = estate
            .licenses()
            .list_licenses(estate.request(ListLicensesRequest {
                parent: estate.customer.clone(),
                page_size,
                page_token,
                order_by: order_by.into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(page.licenses.len() <= page_size as usize);
        seen.extend(
            page.licenses
                .into_iter()
                .map(|license| (license.vendor, license.name)),
        );
        if page.next_page_token.is_empty() {
            return seen;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test]
async fn licenses_sort_by_any_listed_column_across_pages_with_ties_in_creation_order() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word = estate.application("Word", "2021").await;
    let mut created = Vec::new();
    for vendor in ["Bravo", "Alpha", "Delta", "Alpha", "Charlie"] {
        let mut license = Estate::complete_license(&word, &root, AssignmentType::Organization, 1);
        license.vendor = vendor.into();
        let license = estate.create_license(license).await.unwrap();
        created.push((license.vendor, license.name));
    }

    let in_creation_order = all_licenses(&estate, "", 2).await;
    assert_eq!(in_creation_order, created);

    // Descending by vendor; the two Alphas keep descending creation order.
    let mut expected = created.clone();
    expected.sort_by(|a, b| b.cmp(a));
    let vendors = |rows: &[(String, String)]| -> Vec<String> {
        rows.iter().map(|(vendor, _)| vendor.clone()).collect()
    };
    let descending = all_licenses(&estate, "vendor desc", 2).await;
    assert_eq!(
        vendors(&descending),
        ["Delta", "Charlie", "Bravo", "Alpha", "Alpha"]
    );
    assert_eq!(descending[3].1, created[3].1, "the later Alpha first");
    assert_eq!(descending, expected);
    // The same order whatever the page size.
    assert_eq!(all_licenses(&estate, "vendor desc", 1).await, descending);
    assert_eq!(all_licenses(&estate, "vendor desc", 1000).await, descending);
}

#[tokio::test]
async fn a_bad_order_by_or_a_token_from_another_sort_is_refused_naming_the_field() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let root = estate.root().await;
    let word = estate.application("Word", "2021").await;
    for _ in 0..3 {
        let license = Estate::complete_license(&word, &root, AssignmentType::Organization, 1);
        estate.create_license(license).await.unwrap();
    }
    let list = |order_by: &str, page_token: &str| {
        let request = estate.request(ListLicensesRequest {
            parent: estate.customer.clone(),
            page_size: 1,
            page_token: page_token.into(),
            order_by: order_by.into(),
            ..Default::default()
        });
        let mut client = estate.licenses();
        async move { client.list_licenses(request).await }
    };
    let refused = assert_code(list("price", "").await, Code::InvalidArgument);
    assert!(refused.message().contains("order_by"), "{refused:?}");
    assert!(refused.message().contains("purchase_date"), "{refused:?}");
    let refused = assert_code(list("vendor upwards", "").await, Code::InvalidArgument);
    assert!(refused.message().contains("order_by"), "{refused:?}");

    let token = list("vendor desc", "")
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!token.is_empty());
    let refused = assert_code(list("vendor", &token).await, Code::InvalidArgument);
    assert!(refused.message().contains("page_token"), "{refused:?}");
    assert!(list("vendor desc", &token).await.is_ok());
}

#[tokio::test]
async fn applications_sort_by_version_in_release_order_and_computers_by_processors() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    for version in ["2016", "10", "9", "10.1"] {
        estate.application("SQL Server", version).await;
    }
    let applications = CatalogServiceClient::new(estate.channel.clone())
        .list_applications(estate.request(ListApplicationsRequest {
            parent: estate.customer.clone(),
            order_by: "version".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .applications;
    let versions: Vec<String> = applications.into_iter().map(|a| a.version).collect();
    assert_eq!(versions, ["9", "10", "10.1", "2016"]);

    estate
        .upload(
            "sorting-1",
            vec![vec![
                computer("pc-a", 2),
                computer("pc-b", 8),
                computer("pc-c", 4),
            ]],
        )
        .await
        .unwrap();
    let computers = estate
        .computers(ListComputersRequest {
            order_by: "processors desc".into(),
            ..Default::default()
        })
        .await;
    let hostnames: Vec<String> = computers.into_iter().map(|c| c.hostname).collect();
    assert_eq!(hostnames, ["pc-b", "pc-c", "pc-a"]);
}

#[tokio::test]
async fn a_users_application_usage_lists_by_last_use_and_since_an_instant() {
    let platform = Platform::spawn().await.unwrap();
    let estate = customer_estate(&platform, "Contoso").await;
    let now = estate_e2e::pinned_now();
    let word = estate.application("Word", "2021").await;
    let excel = estate.application("Excel", "2021").await;
    let visio = estate.application("Visio", "2021").await;
    let record = |kind| InventoryRecord { kind: Some(kind) };
    let used = |application: &estate_proto::licensing::Application, days: i64| {
        record(inventory_record::Kind::Usage(UsageRecord {
            username: "ada".into(),
            application: application.name.clone(),
            last_used_time: Some(to_timestamp(now - chrono::Duration::days(days))),
        }))
    };
    let user = record(inventory_record::Kind::User(UserRecord {
        username: "ada".into(),
        node: String::new(),
    }));
    let upload = vec![user, used(&word, 40), used(&excel, 2), used(&visio, 10)];
    estate.upload("usage-1", vec![upload]).await.unwrap();
    let user = estate.users(Default::default()).await.remove(0);

    let list = |order_by: &str, used_since| {
        let request = estate.request(ListApplicationUsageRequest {
            parent: user.name.clone(),
            order_by: order_by.into(),
            used_since,
            ..Default::default()
        });
        let mut client = estate.inventory();
        async move {
            let usage = client.list_application_usage(request).await.unwrap();
            let names: Vec<String> = usage
                .into_inner()
                .usage
                .into_iter()
                .map(|usage| usage.application)
                .collect();
            names
        }
    };
    assert_eq!(
        list("last_used_time desc", None).await,
        [excel.name.clone(), visio.name.clone(), word.name.clone()]
    );
    // A 30-day metering period leaves out the use 40 days ago; the start
    // of the period itself counts.
    let since = Some(to_timestamp(now - chrono::Duration::days(10)));
    assert_eq!(
        list("last_used_time", since).await,
        [visio.name.clone(), excel.name.clone()]
    );
}
