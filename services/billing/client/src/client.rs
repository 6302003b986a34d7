//! [`BillingClient`]: one connection to the gateway with the caller's API
//! key on every call, and the distributor's read calls of the billing
//! service as typed methods. List calls come three ways: one page at a
//! time (`*_page`, with the token of the next), a `Stream` of every item
//! that follows the page tokens to the end, and `all_*` collecting that
//! stream.

use std::collections::HashMap;
use std::time::Duration;

use estate_proto::billing::dashboard_service_client::DashboardServiceClient;
use estate_proto::billing::partners_service_client::PartnersServiceClient;
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::{
    AccountMatch, BillingReport, ChargeableDrop, DistributorDashboard,
    GetDistributorDashboardRequest, Granularity, ListBillingReportsRequest,
    ListChargeableDropsRequest, ListInactiveNewPartnersRequest, ListPartnersRequest,
    ListUsageReportsRequest, Partner, SearchAccountsRequest, UsageReportSummary,
};
use estate_proto::customers::organizations_service_client::OrganizationsServiceClient;
use estate_proto::customers::{GetOrganizationRequest, ListOrganizationsRequest};
use futures::{Stream, TryStreamExt};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::Error;
use crate::filters::{BillingReportFilter, PartnerFilter, UsageReportFilter};
use crate::names::{DistributorId, PartnerId};
use crate::paging::{self, Page};

/// How long connecting to the gateway may take before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most matches `SearchAccounts` returns in one call.
pub const MAX_SEARCH_RESULTS: i32 = 100;

/// Puts `authorization: Bearer <key>` on every request, as the gateway
/// expects. The value is marked sensitive so it stays out of debug output.
#[derive(Clone)]
pub struct BearerToken(MetadataValue<Ascii>);

impl BearerToken {
    pub fn new(api_key: &str) -> Result<Self, Error> {
        let mut value: MetadataValue<Ascii> = format!("Bearer {api_key}")
            .parse()
            .map_err(|_| Error::InvalidApiKey)?;
        value.set_sensitive(true);
        Ok(Self(value))
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("BearerToken(..)")
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose every call carries the API key.
pub type AuthorizedChannel = InterceptedService<Channel, BearerToken>;

/// A distributor's typed access to the billing service through the
/// gateway. Cheap to clone: clones share the connection.
#[derive(Debug, Clone)]
pub struct BillingClient {
    reports: ReportsServiceClient<AuthorizedChannel>,
    dashboard: DashboardServiceClient<AuthorizedChannel>,
    partners: PartnersServiceClient<AuthorizedChannel>,
    organizations: OrganizationsServiceClient<AuthorizedChannel>,
    page_size: i32,
}

impl BillingClient {
    /// Connects to the gateway at `endpoint` (e.g. `http://127.0.0.1:50051`,
    /// or `https://…` over TLS trusting the system's roots) and sends
    /// `api_key` with every call.
    pub async fn connect(endpoint: &str, api_key: &str) -> Result<Self, Error> {
        Self::connect_with_ca(endpoint, api_key, None).await
    }

    /// [`Self::connect`], trusting the PEM CA certificate `ca_pem` instead
    /// of the system's roots for `https://` endpoints. An `https://`
    /// endpoint is always spoken to over TLS, never in plaintext.
    pub async fn connect_with_ca(
        endpoint: &str,
        api_key: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let token = BearerToken::new(api_key)?;
        let connect_error = |source| Error::Connect {
            endpoint: endpoint.to_string(),
            source,
        };
        let mut channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(connect_error)?
            .connect_timeout(CONNECT_TIMEOUT);
        match channel.uri().scheme_str() {
            Some("https") => {
                let host = channel
                    .uri()
                    .host()
                    .unwrap_or_default()
                    .trim_matches(['[', ']'])
                    .to_string();
                let tls = tonic::transport::ClientTlsConfig::new().domain_name(host);
                let tls = match ca_pem {
                    Some(pem) => tls.ca_certificate(tonic::transport::Certificate::from_pem(pem)),
                    None => tls.with_native_roots(),
                };
                channel = channel.tls_config(tls).map_err(connect_error)?;
            }
            Some("http") => {}
            _ => return Err(Error::InvalidEndpoint(endpoint.to_string())),
        }
        let channel = channel.connect().await.map_err(connect_error)?;
        Ok(Self::from_parts(channel, token))
    }

    /// A client over a channel made elsewhere (shared, or configured
    /// otherwise).
    pub fn with_channel(channel: Channel, api_key: &str) -> Result<Self, Error> {
        Ok(Self::from_parts(channel, BearerToken::new(api_key)?))
    }

    fn from_parts(channel: Channel, token: BearerToken) -> Self {
        let authorized = InterceptedService::new(channel, token);
        Self {
            reports: ReportsServiceClient::new(authorized.clone()),
            dashboard: DashboardServiceClient::new(authorized.clone()),
            partners: PartnersServiceClient::new(authorized.clone()),
            organizations: OrganizationsServiceClient::new(authorized),
            page_size: 0,
        }
    }

    /// Asks list calls for pages of `page_size` (0, the default, lets the
    /// service choose: 50; it caps at 1,000).
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size;
        self
    }

    // ---- usage reports ----

    /// One page of usage reports, newest month first; an empty token asks
    /// for the first page.
    pub async fn usage_reports_page(
        &self,
        distributor: &DistributorId,
        filter: &UsageReportFilter,
        page_token: &str,
    ) -> Result<Page<UsageReportSummary>, Error> {
        let request = usage_request(distributor, filter, self.page_size, page_token.into());
        list_usage(self.reports.clone(), request).await
    }

    /// Every page of usage reports, following the page tokens to the end.
    pub fn usage_report_pages(
        &self,
        distributor: &DistributorId,
        filter: &UsageReportFilter,
    ) -> impl Stream<Item = Result<Page<UsageReportSummary>, Error>> + Send + 'static + use<> {
        let (client, distributor, filter, page_size) = (
            self.reports.clone(),
            *distributor,
            filter.clone(),
            self.page_size,
        );
        paging::pages("ListUsageReports", move |token| {
            list_usage(
                client.clone(),
                usage_request(&distributor, &filter, page_size, token),
            )
        })
    }

    /// Every usage report, across all pages.
    pub fn usage_reports(
        &self,
        distributor: &DistributorId,
        filter: &UsageReportFilter,
    ) -> impl Stream<Item = Result<UsageReportSummary, Error>> + Send + 'static + use<> {
        paging::items(self.usage_report_pages(distributor, filter))
    }

    pub async fn all_usage_reports(
        &self,
        distributor: &DistributorId,
        filter: &UsageReportFilter,
    ) -> Result<Vec<UsageReportSummary>, Error> {
        self.usage_reports(distributor, filter).try_collect().await
    }

    // ---- billing reports ----

    /// One page of billing reports, newest month first. The partner and
    /// product criteria are applied here (see [`BillingReportFilter`]), so
    /// a page may hold fewer reports than asked for while more follow.
    pub async fn billing_reports_page(
        &self,
        distributor: &DistributorId,
        filter: &BillingReportFilter,
        page_token: &str,
    ) -> Result<Page<BillingReport>, Error> {
        let request = billing_request(distributor, filter, self.page_size, page_token.into());
        let mut page = list_billing(self.reports.clone(), request).await?;
        let keep = billing_criteria(distributor, filter);
        page.items.retain(keep);
        Ok(page)
    }

    /// Every page of billing reports, following the page tokens to the end.
    pub fn billing_report_pages(
        &self,
        distributor: &DistributorId,
        filter: &BillingReportFilter,
    ) -> impl Stream<Item = Result<Page<BillingReport>, Error>> + Send + 'static + use<> {
        let (client, distributor, filter, page_size) = (
            self.reports.clone(),
            *distributor,
            filter.clone(),
            self.page_size,
        );
        let keep = billing_criteria(&distributor, &filter);
        let pages = paging::pages("ListBillingReports", move |token| {
            list_billing(
                client.clone(),
                billing_request(&distributor, &filter, page_size, token),
            )
        });
        paging::retain(pages, keep)
    }

    /// Every billing report, across all pages.
    pub fn billing_reports(
        &self,
        distributor: &DistributorId,
        filter: &BillingReportFilter,
    ) -> impl Stream<Item = Result<BillingReport, Error>> + Send + 'static + use<> {
        paging::items(self.billing_report_pages(distributor, filter))
    }

    pub async fn all_billing_reports(
        &self,
        distributor: &DistributorId,
        filter: &BillingReportFilter,
    ) -> Result<Vec<BillingReport>, Error> {
        self.billing_reports(distributor, filter)
            .try_collect()
            .await
    }

    // ---- partners ----

    /// One page of the distributor's partners.
    pub async fn partners_page(
        &self,
        distributor: &DistributorId,
        filter: &PartnerFilter,
        page_token: &str,
    ) -> Result<Page<Partner>, Error> {
        let request = partners_request(distributor, filter, self.page_size, page_token.into());
        list_partners(self.partners.clone(), request).await
    }

    /// Every page of the distributor's partners.
    pub fn partner_pages(
        &self,
        distributor: &DistributorId,
        filter: &PartnerFilter,
    ) -> impl Stream<Item = Result<Page<Partner>, Error>> + Send + 'static + use<> {
        let (client, distributor, filter, page_size) = (
            self.partners.clone(),
            *distributor,
            filter.clone(),
            self.page_size,
        );
        paging::pages("ListPartners", move |token| {
            list_partners(
                client.clone(),
                partners_request(&distributor, &filter, page_size, token),
            )
        })
    }

    /// Every partner of the distributor, across all pages.
    pub fn partners(
        &self,
        distributor: &DistributorId,
        filter: &PartnerFilter,
    ) -> impl Stream<Item = Result<Partner, Error>> + Send + 'static + use<> {
        paging::items(self.partner_pages(distributor, filter))
    }

    pub async fn all_partners(
        &self,
        distributor: &DistributorId,
        filter: &PartnerFilter,
    ) -> Result<Vec<Partner>, Error> {
        self.partners(distributor, filter).try_collect().await
    }

    // ---- dashboard ----

    /// Every dashboard figure as of today, new partner acquisition by
    /// month or by quarter.
    pub async fn dashboard(
        &self,
        distributor: &DistributorId,
        granularity: Granularity,
    ) -> Result<DistributorDashboard, Error> {
        let request = GetDistributorDashboardRequest {
            name: distributor.dashboard(),
            acquisition_granularity: granularity.into(),
        };
        self.dashboard
            .clone()
            .get_distributor_dashboard(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| Error::rpc("GetDistributorDashboard", status))
    }

    /// Partners and customers whose name starts with or contains `query`
    /// (starts-with first), at most `limit` (1..=100; 0: the service's 20).
    pub async fn search_accounts(
        &self,
        distributor: &DistributorId,
        query: &str,
        limit: i32,
    ) -> Result<Vec<AccountMatch>, Error> {
        let request = SearchAccountsRequest {
            parent: distributor.name(),
            query: query.into(),
            page_size: limit,
        };
        self.dashboard
            .clone()
            .search_accounts(request)
            .await
            .map(|response| response.into_inner().matches)
            .map_err(|status| Error::rpc("SearchAccounts", status))
    }

    /// Partners whose chargeable units of `product` fell from the month
    /// before last to last month beyond the distributor's threshold.
    pub async fn chargeable_drops(
        &self,
        distributor: &DistributorId,
        product: &str,
    ) -> Result<Vec<ChargeableDrop>, Error> {
        let request = ListChargeableDropsRequest {
            parent: distributor.name(),
            product: product.into(),
        };
        self.dashboard
            .clone()
            .list_chargeable_drops(request)
            .await
            .map(|response| response.into_inner().drops)
            .map_err(|status| Error::rpc("ListChargeableDrops", status))
    }

    /// The drops of every product: the dashboard names the products with
    /// chargeable units the month before last and counts their drops, and
    /// the drops of each product with any are listed.
    pub async fn all_chargeable_drops(
        &self,
        distributor: &DistributorId,
    ) -> Result<Vec<ProductDrops>, Error> {
        let dashboard = self.dashboard(distributor, Granularity::Monthly).await?;
        let mut products = Vec::new();
        for figure in &dashboard.chargeable_drops {
            if figure
                .partners
                .as_ref()
                .is_some_and(|partners| partners.count > 0)
            {
                products.push(ProductDrops {
                    product: figure.product.clone(),
                    drops: self.chargeable_drops(distributor, &figure.product).await?,
                });
            }
        }
        Ok(products)
    }

    /// Active partners acquired in the last 90 days without a full license
    /// sale since.
    pub async fn inactive_new_partners(
        &self,
        distributor: &DistributorId,
    ) -> Result<Vec<Partner>, Error> {
        let request = ListInactiveNewPartnersRequest {
            parent: distributor.name(),
        };
        self.dashboard
            .clone()
            .list_inactive_new_partners(request)
            .await
            .map(|response| response.into_inner().partners)
            .map_err(|status| Error::rpc("ListInactiveNewPartners", status))
    }

    // ---- names ----

    /// The display name of an organization (`organizations/{id}`), from
    /// the customers service: billing keeps ids, not names.
    pub async fn organization_display_name(&self, organization: &str) -> Result<String, Error> {
        let request = GetOrganizationRequest {
            name: organization.into(),
        };
        self.organizations
            .clone()
            .get_organization(request)
            .await
            .map(|response| response.into_inner().display_name)
            .map_err(|status| Error::rpc("GetOrganization", status))
    }

    /// A partner named by `text`: a partner account name, an organization
    /// name or id, or else a partner's display name (matched whole,
    /// ignoring case, through `SearchAccounts`).
    pub async fn find_partner(
        &self,
        distributor: &DistributorId,
        text: &str,
    ) -> Result<PartnerId, Error> {
        let looks_like_a_name = text.starts_with("distributors/")
            || text.starts_with("organizations/")
            || uuid::Uuid::parse_str(text).is_ok();
        if looks_like_a_name {
            return PartnerId::parse_for(text, distributor);
        }
        let wanted = text.to_lowercase();
        let matches = self
            .search_accounts(distributor, text, MAX_SEARCH_RESULTS)
            .await?;
        let named: Vec<&AccountMatch> = matches
            .iter()
            .filter(|found| found.partner && found.display_name.to_lowercase() == wanted)
            .collect();
        match named.as_slice() {
            [only] => PartnerId::of_resource(&only.account).ok_or_else(|| Error::InvalidInput {
                what: "partner",
                message: format!("the service named partner {text:?} {:?}", only.account),
            }),
            [] => Err(Error::InvalidInput {
                what: "partner",
                message: format!("{distributor} has no partner named {text:?}"),
            }),
            several => Err(Error::InvalidInput {
                what: "partner",
                message: format!(
                    "{} partners are named {text:?}; name one by its id: {}",
                    several.len(),
                    several
                        .iter()
                        .map(|found| found.account.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
}

/// The chargeable drops of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDrops {
    pub product: String,
    pub drops: Vec<ChargeableDrop>,
}

/// Partners' display names. The first lookup lists the distributor's
/// child organizations, where partner organizations are, in pages of
/// 1,000; a name not among them is asked for on its own, once.
#[derive(Debug)]
pub struct PartnerNames {
    client: BillingClient,
    distributor: DistributorId,
    names: HashMap<PartnerId, String>,
    listed: bool,
}

impl PartnerNames {
    pub fn new(client: BillingClient, distributor: DistributorId) -> Self {
        Self {
            client,
            distributor,
            names: HashMap::new(),
            listed: false,
        }
    }

    /// The display name of `partner`.
    pub async fn display_name(&mut self, partner: PartnerId) -> Result<String, Error> {
        if !self.listed {
            self.listed = true;
            self.list_children().await?;
        }
        if let Some(name) = self.names.get(&partner) {
            return Ok(name.clone());
        }
        let name = self
            .client
            .organization_display_name(&partner.organization())
            .await?;
        self.names.insert(partner, name.clone());
        Ok(name)
    }

    /// Every child organization's name. A caller that may not list them (a
    /// partner's key) looks names up one at a time instead.
    async fn list_children(&mut self) -> Result<(), Error> {
        let mut page_token = String::new();
        loop {
            let request = ListOrganizationsRequest {
                parent: self.distributor.organization(),
                page_size: 1_000,
                page_token,
            };
            let page = match self
                .client
                .organizations
                .clone()
                .list_organizations(request)
                .await
            {
                Ok(page) => page.into_inner(),
                Err(status) if status.code() == tonic::Code::PermissionDenied => return Ok(()),
                Err(status) => return Err(Error::rpc("ListOrganizations", status)),
            };
            for organization in page.organizations {
                let id = organization
                    .name
                    .strip_prefix("organizations/")
                    .and_then(|id| id.parse().ok());
                if let Some(id) = id {
                    self.names.insert(PartnerId(id), organization.display_name);
                }
            }
            if page.next_page_token.is_empty() {
                return Ok(());
            }
            page_token = page.next_page_token;
        }
    }

    /// The display name of the partner a billing resource name starts
    /// with (`distributors/{d}/partners/{p}…`); empty for other names.
    pub async fn of_resource(&mut self, resource: &str) -> Result<String, Error> {
        match PartnerId::of_resource(resource) {
            Some(partner) => self.display_name(partner).await,
            None => Ok(String::new()),
        }
    }
}

fn usage_request(
    distributor: &DistributorId,
    filter: &UsageReportFilter,
    page_size: i32,
    page_token: String,
) -> ListUsageReportsRequest {
    ListUsageReportsRequest {
        parent: filter.partner.map_or_else(
            || distributor.all_partners(),
            |partner| partner.name(distributor),
        ),
        page_size,
        page_token,
        statuses: filter
            .statuses
            .iter()
            .map(|status| *status as i32)
            .collect(),
        month: filter
            .month
            .map(|month| month.to_string())
            .unwrap_or_default(),
        product: filter.product.clone().unwrap_or_default(),
    }
}

async fn list_usage(
    mut client: ReportsServiceClient<AuthorizedChannel>,
    request: ListUsageReportsRequest,
) -> Result<Page<UsageReportSummary>, Error> {
    let response = client
        .list_usage_reports(request)
        .await
        .map_err(|status| Error::rpc("ListUsageReports", status))?
        .into_inner();
    Ok(Page::new(response.usage_reports, response.next_page_token))
}

fn billing_request(
    distributor: &DistributorId,
    filter: &BillingReportFilter,
    page_size: i32,
    page_token: String,
) -> ListBillingReportsRequest {
    ListBillingReportsRequest {
        parent: distributor.name(),
        page_size,
        page_token,
        statuses: filter
            .statuses
            .iter()
            .map(|status| *status as i32)
            .collect(),
        month: filter
            .month
            .map(|month| month.to_string())
            .unwrap_or_default(),
    }
}

/// The criteria `ListBillingReports` does not take, as a predicate.
fn billing_criteria(
    distributor: &DistributorId,
    filter: &BillingReportFilter,
) -> impl Fn(&BillingReport) -> bool + Send + 'static + use<> {
    let partner = filter.partner.map(|partner| partner.name(distributor));
    let product = filter.product.clone();
    move |report| {
        partner.as_ref().is_none_or(|name| report.partner == *name)
            && product.as_ref().is_none_or(|name| report.product == *name)
    }
}

async fn list_billing(
    mut client: ReportsServiceClient<AuthorizedChannel>,
    request: ListBillingReportsRequest,
) -> Result<Page<BillingReport>, Error> {
    let response = client
        .list_billing_reports(request)
        .await
        .map_err(|status| Error::rpc("ListBillingReports", status))?
        .into_inner();
    Ok(Page::new(
        response.billing_reports,
        response.next_page_token,
    ))
}

fn partners_request(
    distributor: &DistributorId,
    filter: &PartnerFilter,
    page_size: i32,
    page_token: String,
) -> ListPartnersRequest {
    ListPartnersRequest {
        parent: distributor.name(),
        page_size,
        page_token,
        statuses: filter
            .statuses
            .iter()
            .map(|status| *status as i32)
            .collect(),
        r#type: filter.partner_type.map_or(0, |kind| kind as i32),
        region: filter.region.clone().unwrap_or_default(),
        acquired_on_or_after: estate_proto::fields::date_string(filter.acquired_on_or_after),
        acquired_on_or_before: estate_proto::fields::date_string(filter.acquired_on_or_before),
        order_by: filter.order_by.clone().unwrap_or_default(),
    }
}

async fn list_partners(
    mut client: PartnersServiceClient<AuthorizedChannel>,
    request: ListPartnersRequest,
) -> Result<Page<Partner>, Error> {
    let response = client
        .list_partners(request)
        .await
        .map_err(|status| Error::rpc("ListPartners", status))?
        .into_inner();
    Ok(Page::new(response.partners, response.next_page_token))
}
