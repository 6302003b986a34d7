//! The web console in a real browser: headless Chromium over WebDriver
//! against the whole platform on port 0 (every service, the gateway
//! serving the console, PostgreSQL), seeded with the demo data that
//! `deploy/local/run.sh` loads. Each test signs in with a key of its own
//! and works the console as a person would; a failing test leaves a
//! screenshot under `target/browser-screenshots/`.

mod customer;
mod distributor;
mod driver;
mod partner;

use estate_e2e::{Options, Platform, pinned_now, with_key};
use estate_launcher::demo;
use estate_proto::customers::customer_overview_service_client::CustomerOverviewServiceClient;
use estate_proto::customers::{CustomerOverview, ListCustomerOverviewsRequest};

/// The platform with the demo loaded, and an API key (role `admin`) for
/// each of the demo's distributor, partner and customer.
pub struct Demo {
    pub platform: Platform,
    /// `http://127.0.0.1:{port}`: the gateway, serving the console.
    pub gateway: String,
    pub summary: demo::Summary,
    pub distributor_key: String,
    pub partner_key: String,
    pub customer_key: String,
}

impl Demo {
    pub async fn load() -> anyhow::Result<Self> {
        let platform = Platform::spawn_with(Options::default()).await?;
        let now = pinned_now();
        platform.clock.set(now);
        let gateway = platform.gateway.url();
        let summary = demo::load(&gateway, &platform.admin_key, now).await?;
        let distributor_key = platform
            .create_api_key(&summary.distributor, &["admin"])
            .await?;
        let partner_key = platform
            .create_api_key(&summary.partner, &["admin"])
            .await?;
        let customer_key = platform
            .create_api_key(&Self::organization_of(&summary.customer), &["admin"])
            .await?;
        Ok(Self {
            platform,
            gateway,
            summary,
            distributor_key,
            partner_key,
            customer_key,
        })
    }

    /// `organizations/{id}` of a licensing `customers/{id}`.
    pub fn organization_of(customer: &str) -> String {
        customer.replacen("customers/", "organizations/", 1)
    }

    pub fn customer_organization(&self) -> String {
        Self::organization_of(&self.summary.customer)
    }

    /// Opens the console and signs in as the demo's partner.
    pub async fn sign_in_as_partner(&self, client: &fantoccini::Client) -> anyhow::Result<()> {
        driver::sign_in(
            client,
            &self.gateway,
            &self.partner_key,
            &self.summary.partner,
        )
        .await
    }

    /// The partner's overview rows through the API, in `order_by` order.
    pub async fn overview(&self, order_by: &str) -> anyhow::Result<Vec<CustomerOverview>> {
        let channel = self.platform.gateway_channel().await?;
        Ok(CustomerOverviewServiceClient::new(channel)
            .list_customer_overviews(with_key(
                ListCustomerOverviewsRequest {
                    parent: self.summary.partner.clone(),
                    order_by: order_by.into(),
                    page_size: 100,
                    ..Default::default()
                },
                &self.partner_key,
            ))
            .await?
            .into_inner()
            .customer_overviews)
    }
}
