//! The distributor's dashboard and billing (seed 004).

use estate_e2e::{mask, with_key};
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::{
    GetUsageReportRequest, UpdateUsageReportRequest, UsageReportStatus, UsageReportSummary,
};
use fantoccini::Locator;

use crate::Demo;
use crate::driver::{self, Browser, attributes, click, eventually, sign_in, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributor_opens_a_widgets_list_approves_a_report_and_rejects_another() {
    if !driver::available() {
        return;
    }
    let demo = Demo::load().await.unwrap();
    let browser = Browser::open().await.unwrap();
    browser
        .run("distributor_dashboard", |client| async move {
            sign_in(
                &client,
                &demo.gateway,
                &demo.distributor_key,
                &demo.summary.distributor,
            )
            .await?;
            // Every widget the dashboard answers with is shown, the charts
            // included (they draw on canvases described for screen readers).
            // The search box shows before the figures arrive.
            eventually("the dashboard's widgets", || async {
                let widgets =
                    attributes(&client, "section.widget[data-widget]", "data-widget").await?;
                let charts = attributes(&client, "canvas[role=img]", "aria-label").await?;
                Ok((widgets.len() >= 6 && !charts.is_empty()).then_some(()))
            })
            .await?;
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "dashboard: {violations:#?}");
            driver::shoot(&client, "distributor-dashboard").await;

            // The count of usage reports under review opens that list.
            let link = wait_for(
                &client,
                "a.widget-count[href*='#/reports?status=UNDER_REVIEW']",
            )
            .await?;
            link.click().await?;
            let rows = eventually("the reports under review", || async {
                let statuses = attributes(
                    &client,
                    "#usage-reports tbody tr[data-report]",
                    "data-status",
                )
                .await?;
                Ok((!statuses.is_empty()).then_some(statuses))
            })
            .await?;
            anyhow::ensure!(
                rows.iter().all(|status| status.contains("UNDER_REVIEW")),
                "only reports under review: {rows:?}"
            );
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "usage reports: {violations:#?}");
            for (page, loaded) in [
                ("partners", "#partners tbody tr[data-partner]"),
                ("dashboard", "section.widget[data-widget=active_partners]"),
            ] {
                client.goto(&format!("{}/#/{page}", demo.gateway)).await?;
                wait_for(&client, loaded).await?;
                let violations = driver::accessibility_violations(&client).await?;
                anyhow::ensure!(violations.is_empty(), "{page}: {violations:#?}");
            }
            client
                .goto(&format!("{}/#/reports?status=UNDER_REVIEW", demo.gateway))
                .await?;
            wait_for(&client, "#usage-reports tbody tr[data-report]").await?;

            // Approve the first; the row and the platform both say so.
            let row = client
                .find(Locator::Css("#usage-reports tbody tr[data-report]"))
                .await?;
            let report = row.attr("data-report").await?.unwrap_or_default();
            row.find(Locator::Css("button.approve"))
                .await?
                .click()
                .await?;
            let selector =
                format!("#usage-reports tr[data-report=\"{report}\"] td[data-col=status]");
            eventually("the row says approved", || async {
                let shown = client.find(Locator::Css(&selector)).await?.text().await?;
                Ok(shown.contains("Approved").then_some(()))
            })
            .await?;
            let stored = ReportsServiceClient::new(demo.platform.gateway_channel().await?)
                .get_usage_report(with_key(
                    GetUsageReportRequest {
                        name: report.clone(),
                    },
                    &demo.distributor_key,
                ))
                .await?
                .into_inner();
            anyhow::ensure!(
                stored.status() == UsageReportStatus::Approved,
                "{report} is {:?}",
                stored.status()
            );

            // A report still preparing: submit it, then reject it with the
            // reason the dialog asks for.
            client
                .goto(&format!("{}/#/reports?status=PREPARING", demo.gateway))
                .await?;
            let preparing =
                wait_for(&client, "#usage-reports tbody tr[data-status*=PREPARING]").await?;
            let rejected = preparing.attr("data-report").await?.unwrap_or_default();
            preparing
                .find(Locator::Css("button.submit-report"))
                .await?
                .click()
                .await?;
            // Over-provisioned without the partner's explanation: refused,
            // and the page says why in the server's words.
            let refusal = eventually("the refusal", || async {
                let shown = driver::texts(&client, "[role=alert]").await?;
                Ok(shown.into_iter().find(|text| text.contains("explain why")))
            })
            .await?;
            anyhow::ensure!(refusal.contains("FailedPrecondition"), "{refusal}");
            explain(&demo, &rejected).await?;
            client.refresh().await?;
            let row = format!("#usage-reports tr[data-report=\"{rejected}\"]");
            click(&client, &format!("{row} button.submit-report")).await?;
            click(&client, &format!("{row} button.reject")).await?;
            wait_for(&client, "#reject-dialog[open]").await?;
            client
                .find(Locator::Css("#reject-reason"))
                .await?
                .send_keys("More seats than the plan allows")
                .await?;
            click(&client, "#confirm-reject").await?;
            let selector = format!("{row} td[data-col=status]");
            eventually("the row says rejected", || async {
                let shown = client.find(Locator::Css(&selector)).await?.text().await?;
                Ok(shown.contains("Rejected").then_some(()))
            })
            .await?;
            let stored = ReportsServiceClient::new(demo.platform.gateway_channel().await?)
                .get_usage_report(with_key(
                    GetUsageReportRequest {
                        name: rejected.clone(),
                    },
                    &demo.distributor_key,
                ))
                .await?
                .into_inner();
            anyhow::ensure!(
                stored.status() == UsageReportStatus::Rejected
                    && stored.rejection_reason == "More seats than the plan allows",
                "{rejected}: {:?} {:?}",
                stored.status(),
                stored.rejection_reason
            );
            Ok(())
        })
        .await;
}

/// The partner explains its over-provisioning, as its own program would.
async fn explain(demo: &Demo, report: &str) -> anyhow::Result<()> {
    ReportsServiceClient::new(demo.platform.gateway_channel().await?)
        .update_usage_report(with_key(
            UpdateUsageReportRequest {
                usage_report: Some(UsageReportSummary {
                    name: report.into(),
                    comment: "Seats held for new hires starting next month".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["comment"]),
                etag: String::new(),
            },
            &demo.partner_key,
        ))
        .await?;
    Ok(())
}
