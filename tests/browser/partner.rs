//! The partner's Customers overview (seeds 000, 001).

use estate_e2e::with_key;
use estate_proto::customers::beacons_service_client::BeaconsServiceClient;
use estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient;
use estate_proto::customers::{
    BeaconStatus, CustomerStatus, ExportCustomerOverviewsRequest, ListBeaconsRequest,
    RecordBeaconHeartbeatRequest,
};
use fantoccini::{Client, Locator};
use futures::StreamExt;

use crate::Demo;
use crate::driver::{self, Browser, attributes, click, eventually, texts, wait_for};

/// Makes one of the partner's synced customers WARNING the way it happens
/// in the field: its beacon reports a problem. Returns its name.
async fn a_customer_in_warning(demo: &Demo) -> anyhow::Result<String> {
    let channel = demo.platform.gateway_channel().await?;
    let key = &demo.platform.admin_key;
    let rows = overview(demo, "status").await?;
    let synced = rows
        .iter()
        .filter(|(_, status)| *status == CustomerStatus::Synced)
        .map(|(customer, _)| customer.clone())
        .collect::<Vec<_>>();
    let mut beacons = BeaconsServiceClient::new(channel);
    for customer in &synced {
        let listed = beacons
            .list_beacons(with_key(
                ListBeaconsRequest {
                    parent: customer.clone(),
                    ..Default::default()
                },
                key,
            ))
            .await?
            .into_inner()
            .beacons;
        if let Some(beacon) = listed.first() {
            beacons
                .record_beacon_heartbeat(with_key(
                    RecordBeaconHeartbeatRequest {
                        name: beacon.name.clone(),
                        status: BeaconStatus::Warning.into(),
                        version: beacon.version.clone(),
                        status_message: "disk almost full".into(),
                    },
                    key,
                ))
                .await?;
            return Ok(customer.clone());
        }
    }
    anyhow::bail!("the demo has no synced customer with a beacon: {rows:?}")
}

/// The partner's overview through the API, in `order_by` order: each
/// customer's name and status.
async fn overview(demo: &Demo, order_by: &str) -> anyhow::Result<Vec<(String, CustomerStatus)>> {
    Ok(demo
        .overview(order_by)
        .await?
        .into_iter()
        .map(|row| {
            let status = row.status();
            (row.customer, status)
        })
        .collect())
}

/// The rows the page shows, by customer name, once they match `expected`.
async fn rows_become(client: &Client, what: &str, expected: &[String]) -> anyhow::Result<()> {
    eventually(what, || async {
        let shown = attributes(
            client,
            "#customers-table tbody tr[data-customer]",
            "data-customer",
        )
        .await?;
        Ok((shown == expected).then_some(()))
    })
    .await
    .map_err(|error| anyhow::anyhow!("{error}; expected {expected:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_sorts_filters_favorites_and_exports_the_overview() {
    if !driver::available() {
        return;
    }
    let demo = Demo::load().await.unwrap();
    let warning = a_customer_in_warning(&demo).await.unwrap();
    let browser = Browser::open().await.unwrap();
    let downloads = browser.downloads.path().to_path_buf();
    browser
        .run("partner_overview", |client| async move {
            demo.sign_in_as_partner(&client).await?;
            wait_for(&client, "#customers-table tbody tr[data-customer]").await?;
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "overview: {violations:#?}");
            driver::shoot(&client, "partner-customers").await;

            // Sorted by status, from the keyboard: the page shows the API's
            // order, and the warning customer's chip says so, with its
            // reason on hover.
            let enter = char::from(fantoccini::key::Key::Enter).to_string();
            client
                .find(Locator::Css("th[data-col=status] button.sort"))
                .await?
                .send_keys(&enter)
                .await?;
            let by_status = overview(&demo, "status").await?;
            let names: Vec<String> = by_status.iter().map(|(c, _)| c.clone()).collect();
            rows_become(&client, "rows sorted by status", &names).await?;
            let chip = client
                .find(Locator::Css(&format!(
                    "#customers-table tr[data-customer=\"{warning}\"] td[data-col=status] .chip"
                )))
                .await?;
            anyhow::ensure!(
                chip.text().await? == "Warning",
                "chip: {}",
                chip.text().await?
            );
            let reason = chip.attr("title").await?.unwrap_or_default();
            anyhow::ensure!(
                reason.contains("beacon"),
                "the reason names the beacon: {reason:?}"
            );

            // A favorite comes first, whatever the sort.
            click(
                &client,
                &format!("#customers-table tr[data-customer=\"{warning}\"] button.favorite"),
            )
            .await?;
            eventually("the favorite first", || async {
                let shown = attributes(
                    &client,
                    "#customers-table tbody tr[data-customer]",
                    "data-customer",
                )
                .await?;
                Ok((shown.first() == Some(&warning)).then_some(()))
            })
            .await?;
            let first_status = texts(
                &client,
                "#customers-table tbody tr td[data-col=status] .chip",
            )
            .await?;
            anyhow::ensure!(first_status.first().map(String::as_str) == Some("Warning"));

            // Filtered to Warning: only that customer.
            client
                .find(Locator::Css("#filter-status"))
                .await?
                .select_by_label("Warning")
                .await?;
            rows_become(
                &client,
                "only warning customers",
                std::slice::from_ref(&warning),
            )
            .await?;

            // Export: the downloaded file is the server's CSV for the same
            // filter and order, byte for byte.
            click(&client, "#export-csv").await?;
            let file = eventually("the CSV download", || async {
                Ok(driver::downloaded(&downloads)?
                    .into_iter()
                    .find(|path| path.file_name().is_some_and(|name| name == "customers.csv")))
            })
            .await?;
            let downloaded = std::fs::read(&file)?;
            let expected = export(&demo, "status", CustomerStatus::Warning).await?;
            anyhow::ensure!(
                downloaded == expected,
                "download:\n{}\nexpected:\n{}",
                String::from_utf8_lossy(&downloaded),
                String::from_utf8_lossy(&expected)
            );
            let lines = String::from_utf8(downloaded)?;
            anyhow::ensure!(lines.lines().count() == 2, "header and one row: {lines}");

            // At tablet width the page does not scroll sideways: the wide
            // table scrolls inside its own frame.
            client.set_window_size(768, 1024).await?;
            client.refresh().await?;
            wait_for(&client, "#customers-table tbody tr[data-customer]").await?;
            let widths = client
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    vec![],
                )
                .await?;
            let widths: Vec<f64> = serde_json::from_value(widths)?;
            anyhow::ensure!(
                widths[0] <= widths[1],
                "page wider than the window: {widths:?}"
            );
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "overview at 768 px: {violations:#?}");
            Ok(())
        })
        .await;
}

async fn export(demo: &Demo, order_by: &str, status: CustomerStatus) -> anyhow::Result<Vec<u8>> {
    let channel = demo.platform.gateway_channel().await?;
    let mut stream = CustomerOverviewServiceClient::new(channel)
        .export_customer_overviews(with_key(
            ExportCustomerOverviewsRequest {
                parent: demo.summary.partner.clone(),
                order_by: order_by.into(),
                filter: Some(estate_proto::customers::OverviewFilter {
                    statuses: vec![status.into()],
                    ..Default::default()
                }),
            },
            &demo.partner_key,
        ))
        .await?
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.next().await {
        csv.extend(chunk?.csv);
    }
    Ok(csv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_adds_customers_from_a_pasted_list_and_syncs_one_now() {
    if !driver::available() {
        return;
    }
    let demo = Demo::load().await.unwrap();
    let before = demo.overview("").await.unwrap().len();
    let browser = Browser::open().await.unwrap();
    browser
        .run("partner_add_customers", |client| async move {
            demo.sign_in_as_partner(&client).await?;
            wait_for(&client, "#customers-table tbody tr[data-customer]").await?;
            click(&client, "#add-customers").await?;
            wait_for(&client, "#add-customers-dialog[open]").await?;
            let owner = client.find(Locator::Css("#owner-email")).await?;
            owner.send_keys("it@blue-yonder.example").await?;
            let name = client.find(Locator::Css("#owner-name")).await?;
            name.send_keys("Blue Yonder IT").await?;

            // One bad line refuses the whole list, naming its line.
            let list = client.find(Locator::Css("#new-customers")).await?;
            let too_long = "x".repeat(600);
            list.send_keys(&format!(
                "Blue Yonder Airlines,BYA\n{too_long}\nCoho Vineyard,COHO"
            ))
            .await?;
            click(&client, "#create-customers").await?;
            let lines = eventually("the bad line's error", || async {
                let lines =
                    driver::attributes(&client, "#create-errors li[data-line]", "data-line")
                        .await?;
                Ok((!lines.is_empty()).then_some(lines))
            })
            .await?;
            anyhow::ensure!(lines == ["2"], "only line 2 is wrong: {lines:?}");
            anyhow::ensure!(
                demo.overview("").await?.len() == before,
                "nothing was created"
            );

            // Without it, both are created and listed.
            list.clear().await?;
            list.send_keys("Blue Yonder Airlines,BYA\nCoho Vineyard,COHO")
                .await?;
            click(&client, "#create-customers").await?;
            let created = eventually("the new customers listed", || async {
                let rows = demo.overview("").await?;
                let names: Vec<_> = rows
                    .iter()
                    .filter(|row| row.external_id == "BYA" || row.external_id == "COHO")
                    .map(|row| row.customer.clone())
                    .collect();
                Ok((names.len() == 2).then_some(names))
            })
            .await?;
            for customer in &created {
                wait_for(
                    &client,
                    &format!("#customers-table tr[data-customer=\"{customer}\"]"),
                )
                .await?;
            }

            // A customer's details: Sync now, followed to its end.
            let uuid = created[0].trim_start_matches("organizations/");
            client
                .goto(&format!("{}/#/customers/{uuid}", demo.gateway))
                .await?;
            click(&client, "#sync-now").await?;
            let state = eventually("the sync run ends", || async {
                let state = client
                    .find(Locator::Css("#sync-progress"))
                    .await?
                    .attr("data-state")
                    .await?
                    .unwrap_or_default();
                Ok(matches!(state.as_str(), "SUCCEEDED" | "FAILED").then_some(state))
            })
            .await?;
            eventually("the run listed with the details", || async {
                let runs =
                    driver::attributes(&client, "#sync-runs tr[data-state]", "data-state").await?;
                Ok((runs.first() == Some(&state)).then_some(()))
            })
            .await?;
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "details: {violations:#?}");
            Ok(())
        })
        .await;
}
