//! The customer's access grants, licenses and compliance (seeds 000, 002,
//! 003), and what the partner sees of a customer's decision.

use estate_e2e::{mask, with_key};
use estate_proto::customers::access_grants_service_client::AccessGrantsServiceClient;
use estate_proto::customers::{AccessMode, GetAccessGrantRequest};
use estate_proto::licensing::compliance_service_client::ComplianceServiceClient;
use estate_proto::licensing::license_policy_service_client::LicensePolicyServiceClient;
use estate_proto::licensing::licenses_service_client::LicensesServiceClient;
use estate_proto::licensing::{
    ComplianceLevel, GetLicensePolicyRequest, License, ListComplianceRequest, ListLicensesRequest,
    PolicyField, Quantity, UpdateLicensePolicyRequest, UpdateLicenseRequest, quantity,
};
use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::Demo;
use crate::driver::{self, Browser, click, eventually, sign_in, texts, wait_for};

/// The demo's customer that owns its relationship with the partner (and
/// so decides the partner's access): its organization name.
async fn customer_owned(demo: &Demo) -> anyhow::Result<String> {
    demo.overview("")
        .await?
        .into_iter()
        .find(|row| row.display_name == "Wide World Importers")
        .map(|row| row.customer)
        .ok_or_else(|| anyhow::anyhow!("the demo has no Wide World Importers"))
}

async fn chip_of(client: &Client, customer: &str) -> anyhow::Result<String> {
    let selector = format!("tr[data-customer=\"{customer}\"] td[data-col=status] .chip");
    Ok(client.find(Locator::Css(&selector)).await?.text().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_disables_its_partners_access_and_the_partner_sees_the_row_change() {
    if !driver::available() {
        return;
    }
    let demo = Demo::load().await.unwrap();
    let customer = customer_owned(&demo).await.unwrap();
    let key = demo
        .platform
        .create_api_key(&customer, &["admin"])
        .await
        .unwrap();
    let browser = Browser::open().await.unwrap();
    browser
        .run("customer_access", |client| async move {
            // The partner sees the customer while the period grant runs.
            demo.sign_in_as_partner(&client).await?;
            wait_for(&client, &format!("tr[data-customer=\"{customer}\"]")).await?;
            let before = chip_of(&client, &customer).await?;
            anyhow::ensure!(before != "Access disabled", "before: {before}");
            click(&client, "#sign-out").await?;

            // The customer disables it.
            sign_in(&client, &demo.gateway, &key, &customer).await?;
            client.goto(&format!("{}/#/access", demo.gateway)).await?;
            let row = format!("#grants tr[data-partner=\"{}\"]", demo.summary.partner);
            wait_for(&client, &row).await?;
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "access: {violations:#?}");
            client
                .find(Locator::Css(&format!("{row} select.grant-mode")))
                .await?
                .select_by_label("Disabled")
                .await?;
            click(&client, &format!("{row} button.save-grant")).await?;
            let grant = format!(
                "{customer}/accessGrants/{}",
                demo.summary.partner.trim_start_matches("organizations/")
            );
            let channel = demo.platform.gateway_channel().await?;
            eventually("the grant is disabled", || {
                let channel = channel.clone();
                let grant = grant.clone();
                let key = key.clone();
                async move {
                    let stored = AccessGrantsServiceClient::new(channel)
                        .get_access_grant(with_key(GetAccessGrantRequest { name: grant }, &key))
                        .await?
                        .into_inner();
                    Ok((stored.mode() == AccessMode::Disabled).then_some(()))
                }
            })
            .await?;
            click(&client, "#sign-out").await?;

            // The partner's row changes.
            demo.sign_in_as_partner(&client).await?;
            eventually("the partner's row says access disabled", || async {
                Ok((chip_of(&client, &customer).await? == "Access disabled").then_some(()))
            })
            .await?;
            Ok(())
        })
        .await;
}

/// Makes `invoice_reference` required, with a description, as a customer's
/// license manager would.
async fn require_invoice_reference(demo: &Demo) -> anyhow::Result<()> {
    let mut policies = LicensePolicyServiceClient::new(demo.platform.gateway_channel().await?);
    let name = format!("{}/licensePolicy", demo.summary.customer);
    let mut policy = policies
        .get_license_policy(with_key(
            GetLicensePolicyRequest { name },
            &demo.customer_key,
        ))
        .await?
        .into_inner();
    policy
        .fields
        .retain(|field| field.field != "invoice_reference");
    policy.fields.push(PolicyField {
        field: "invoice_reference".into(),
        required: true,
        description: "The reseller's invoice number, for audits".into(),
        ..Default::default()
    });
    policies
        .update_license_policy(with_key(
            UpdateLicensePolicyRequest {
                policy: Some(policy),
            },
            &demo.customer_key,
        ))
        .await?;
    Ok(())
}

/// Cuts the demo's SQL Server license (64 cores) to one, so the estate
/// falls short.
async fn cut_a_license(demo: &Demo) -> anyhow::Result<()> {
    let mut licenses = LicensesServiceClient::new(demo.platform.gateway_channel().await?);
    let listed = licenses
        .list_licenses(with_key(
            ListLicensesRequest {
                parent: demo.summary.customer.clone(),
                page_size: 100,
                ..Default::default()
            },
            &demo.customer_key,
        ))
        .await?
        .into_inner()
        .licenses;
    let counted = |license: &&License| {
        matches!(
            license.quantity.as_ref().and_then(|q| q.kind),
            Some(quantity::Kind::Count(64))
        )
    };
    let license = listed
        .iter()
        .find(counted)
        .ok_or_else(|| anyhow::anyhow!("no 64-unit license in {listed:?}"))?;
    licenses
        .update_license(with_key(
            UpdateLicenseRequest {
                license: Some(License {
                    name: license.name.clone(),
                    quantity: Some(Quantity {
                        kind: Some(quantity::Kind::Count(1)),
                    }),
                    ..Default::default()
                }),
                update_mask: mask(&["quantity"]),
            },
            &demo.customer_key,
        ))
        .await?;
    Ok(())
}

/// The applications short of licenses after the latest calculation, by
/// the API.
async fn shortfalls(demo: &Demo) -> anyhow::Result<usize> {
    let rows = ComplianceServiceClient::new(demo.platform.gateway_channel().await?)
        .list_compliance(with_key(
            ListComplianceRequest {
                parent: demo.summary.customer.clone(),
                level: ComplianceLevel::Application.into(),
                page_size: 100,
                ..Default::default()
            },
            &demo.customer_key,
        ))
        .await?
        .into_inner()
        .rows;
    Ok(rows
        .iter()
        .filter(|row| row.figures.as_ref().is_some_and(|f| f.compliance < 0))
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_meets_the_license_policy_and_calculates_a_shortfall() {
    if !driver::available() {
        return;
    }
    let demo = Demo::load().await.unwrap();
    // The cut first: the stored licenses have no invoice reference, so
    // once the policy requires one they cannot be changed without it.
    cut_a_license(&demo).await.unwrap();
    require_invoice_reference(&demo).await.unwrap();
    let browser = Browser::open().await.unwrap();
    browser
        .run("customer_licenses", |client| async move {
            let organization = demo.customer_organization();
            sign_in(&client, &demo.gateway, &demo.customer_key, &organization).await?;

            // A license without the invoice reference the policy requires:
            // the form says which field and why, with the policy's own
            // description beside the field.
            client.goto(&format!("{}/#/licenses", demo.gateway)).await?;
            wait_for(&client, "#licenses tbody tr").await?;
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "licenses: {violations:#?}");
            driver::shoot(&client, "customer-licenses").await;
            click(&client, "#new-license").await?;
            let form = wait_for(&client, "form#license-form").await?;
            let text = form.text().await?;
            anyhow::ensure!(
                text.contains("The reseller's invoice number, for audits"),
                "the policy's description is shown: {text}"
            );
            choose_first(&client, "form#license-form select[name=application]").await?;
            choose_first(&client, "form#license-form select[name=metric]").await?;
            let quantity = client
                .find(Locator::Css("form#license-form input[name=quantity]"))
                .await?;
            quantity.clear().await?;
            quantity.send_keys("10").await?;
            click(&client, "#save-license").await?;
            let errors = eventually("the policy's error", || async {
                let fields = driver::attributes(&client, "form#license-form .field-error", "data-field").await?;
                Ok(fields
                    .iter()
                    .any(|field| field.ends_with("invoice_reference"))
                    .then_some(fields))
            })
            .await?;
            let messages = texts(&client, "form#license-form .field-error").await?;
            anyhow::ensure!(
                messages.iter().all(|message| !message.trim().is_empty()),
                "every error says why: {errors:?} {messages:?}"
            );

            // Calculate: the phases stream in, then the shortfall leads
            // the results.
            client.goto(&format!("{}/#/compliance", demo.gateway)).await?;
            let calculate = wait_for(&client, "#calculate").await?;
            client
                .execute(
                    "window.phasesSeen = [];
                     new MutationObserver(() => {
                       const p = document.getElementById('calc-phase');
                       const seen = window.phasesSeen;
                       if (p && seen[seen.length - 1] !== p.dataset.phase) seen.push(p.dataset.phase);
                     }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });",
                    vec![],
                )
                .await?;
            calculate.click().await?;
            eventually("the calculation ends", || async {
                let phase = client
                    .find(Locator::Css("#calc-phase"))
                    .await?
                    .attr("data-phase")
                    .await?;
                Ok((phase.as_deref() == Some("DONE")).then_some(()))
            })
            .await?;
            let seen = client.execute("return window.phasesSeen;", vec![]).await?;
            let seen: Vec<Value> = serde_json::from_value(seen)?;
            let phases = seen
                .iter()
                .filter_map(Value::as_str)
                .filter(|phase| !matches!(*phase, "UNSPECIFIED" | "DONE"))
                .count();
            anyhow::ensure!(phases >= 1, "streamed phases before the end: {seen:?}");
            let expected = shortfalls(&demo).await?;
            anyhow::ensure!(expected > 0, "the cut license falls short");
            let first = eventually("the shortfall first", || async {
                let rows = client
                    .find_all(Locator::Css("#compliance tbody tr"))
                    .await?;
                let Some(first) = rows.first() else {
                    return Ok(None);
                };
                Ok(first.attr("data-shortfall").await?)
            })
            .await?;
            anyhow::ensure!(first == "true");
            // The demo's own first run had no shortfall: these rows are
            // this run's, once the list has reloaded.
            eventually("as many shortfalls as the API lists", || async {
                let short = client
                    .find_all(Locator::Css("#compliance tbody tr[data-shortfall=true]"))
                    .await?
                    .len();
                Ok((short == expected).then_some(()))
            })
            .await?;
            let violations = driver::accessibility_violations(&client).await?;
            anyhow::ensure!(violations.is_empty(), "compliance: {violations:#?}");
            client
                .execute("document.getElementById('compliance').scrollIntoView();", vec![])
                .await?;
            driver::shoot(&client, "customer-compliance").await;
            Ok(())
        })
        .await;
}

/// Picks the first real option of a select (its options may arrive later).
async fn choose_first(client: &Client, select: &str) -> anyhow::Result<()> {
    let value = eventually(select, || async {
        let element = client.find(Locator::Css(select)).await?;
        for option in element.find_all(Locator::Css("option")).await? {
            let value = option.attr("value").await?.unwrap_or_default();
            if !value.is_empty() {
                return Ok(Some(value));
            }
        }
        Ok(None)
    })
    .await?;
    client
        .find(Locator::Css(select))
        .await?
        .select_by_value(&value)
        .await?;
    Ok(())
}
