//! The distributor dashboard as a document: [`DashboardView`] serializes to
//! JSON with labels for enums and each figure's list call as a JSON object
//! (ready to send back), and [`write_dashboard_table`] prints it for a
//! person.

use std::io::{self, Write};

use estate_proto::billing::{
    DistributorDashboard, Figure, Granularity, ProductLicenseStatus, UsageReportStatus,
};
use serde::Serialize;

use crate::filters::label_of;
use crate::output::write_table;

/// Every figure of a distributor's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardView {
    /// `distributors/{id}/dashboard`.
    pub name: String,
    /// The distributor's display name, or empty.
    pub display_name: String,
    /// `YYYY-MM-DD`: the day the figures are for.
    pub as_of: String,
    pub enabled_customers: FigureView,
    pub active_partners: FigureView,
    pub enabled_service_plans: FigureView,
    pub partners_acquired_last_30_days: FigureView,
    pub inactive_new_partners: FigureView,
    pub customers_by_license_status: Vec<StatusFigure>,
    /// Whether this distributor sees usage report figures (else empty).
    pub usage_reports_shown: bool,
    pub usage_reports_by_status: Vec<StatusFigure>,
    pub billing_reports_shown: bool,
    pub billing_reports_by_status: Vec<StatusFigure>,
    /// `monthly` or `quarterly`.
    pub acquisition_granularity: String,
    /// This calendar year, compared with the one before.
    pub acquisition_year: i32,
    pub new_partner_acquisition: Vec<AcquisitionPeriod>,
    pub chargeable_drop_threshold_percent: i32,
    pub chargeable_drops: Vec<ProductFigure>,
}

/// A count and the call that lists what it counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FigureView {
    pub count: i64,
    /// `estate.billing.v1.PartnersService/ListPartners`.
    pub list_method: String,
    /// The list call's request, a JSON object (as text when the service
    /// sent something else).
    pub list_request: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusFigure {
    pub status: String,
    #[serde(flatten)]
    pub figure: FigureView,
}

/// New partners in one month or quarter of this year and the year before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AcquisitionPeriod {
    /// 1..=12 (months) or 1..=4 (quarters).
    pub period: i32,
    pub this_year: FigureView,
    pub previous_year: FigureView,
}

/// Partners whose chargeable units of a product dropped.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductFigure {
    pub product: String,
    #[serde(flatten)]
    pub partners: FigureView,
}

impl DashboardView {
    pub fn new(dashboard: &DistributorDashboard, display_name: String) -> Self {
        Self {
            name: dashboard.name.clone(),
            display_name,
            as_of: dashboard.as_of.clone(),
            enabled_customers: figure(&dashboard.enabled_customers),
            active_partners: figure(&dashboard.active_partners),
            enabled_service_plans: figure(&dashboard.enabled_service_plans),
            partners_acquired_last_30_days: figure(&dashboard.partners_acquired_last_30_days),
            inactive_new_partners: figure(&dashboard.inactive_new_partners),
            customers_by_license_status: dashboard
                .customers_by_license_status
                .iter()
                .map(|entry| StatusFigure {
                    status: label_of::<ProductLicenseStatus>(entry.status),
                    figure: figure(&entry.customers),
                })
                .collect(),
            usage_reports_shown: dashboard.usage_reports_shown,
            usage_reports_by_status: dashboard
                .usage_reports_by_status
                .iter()
                .map(|entry| StatusFigure {
                    status: label_of::<UsageReportStatus>(entry.status),
                    figure: figure(&entry.usage_reports),
                })
                .collect(),
            billing_reports_shown: dashboard.billing_reports_shown,
            billing_reports_by_status: dashboard
                .billing_reports_by_status
                .iter()
                .map(|entry| StatusFigure {
                    status: label_of::<estate_proto::billing::BillingReportStatus>(entry.status),
                    figure: figure(&entry.billing_reports),
                })
                .collect(),
            acquisition_granularity: label_of::<Granularity>(dashboard.acquisition_granularity),
            acquisition_year: dashboard.acquisition_year,
            new_partner_acquisition: dashboard
                .new_partner_acquisition
                .iter()
                .map(|period| AcquisitionPeriod {
                    period: period.period,
                    this_year: figure(&period.this_year),
                    previous_year: figure(&period.previous_year),
                })
                .collect(),
            chargeable_drop_threshold_percent: dashboard.chargeable_drop_threshold_percent,
            chargeable_drops: dashboard
                .chargeable_drops
                .iter()
                .map(|drop| ProductFigure {
                    product: drop.product.clone(),
                    partners: figure(&drop.partners),
                })
                .collect(),
        }
    }
}

fn figure(figure: &Option<Figure>) -> FigureView {
    let Some(figure) = figure else {
        return FigureView {
            count: 0,
            list_method: String::new(),
            list_request: serde_json::Value::Null,
        };
    };
    let (list_method, list_request) = match &figure.list {
        Some(call) => (
            call.method.clone(),
            serde_json::from_str(&call.request_json)
                .unwrap_or_else(|_| serde_json::Value::String(call.request_json.clone())),
        ),
        None => (String::new(), serde_json::Value::Null),
    };
    FigureView {
        count: figure.count,
        list_method,
        list_request,
    }
}

/// The dashboard as aligned text, section by section.
pub fn write_dashboard_table(out: &mut impl Write, view: &DashboardView) -> io::Result<()> {
    let title = if view.display_name.is_empty() {
        view.name.clone()
    } else {
        format!("{} ({})", view.display_name, view.name)
    };
    writeln!(out, "{title}, as of {}", view.as_of)?;
    writeln!(out)?;
    let totals = [
        ("Enabled customers", &view.enabled_customers),
        ("Active partners", &view.active_partners),
        ("Enabled service plans", &view.enabled_service_plans),
        (
            "Partners acquired in the last 30 days",
            &view.partners_acquired_last_30_days,
        ),
        (
            "New partners without a full license sale",
            &view.inactive_new_partners,
        ),
    ];
    let rows: Vec<Vec<String>> = totals
        .iter()
        .map(|(label, figure)| vec![label.to_string(), figure.count.to_string()])
        .collect();
    write_table(out, &["FIGURE", "COUNT"], &rows)?;

    section(
        out,
        "Customers by license status",
        &view.customers_by_license_status,
        true,
    )?;
    section(
        out,
        "Usage reports by status",
        &view.usage_reports_by_status,
        view.usage_reports_shown,
    )?;
    section(
        out,
        "Billing reports by status",
        &view.billing_reports_by_status,
        view.billing_reports_shown,
    )?;

    let this_year = view.acquisition_year.to_string();
    let previous_year = (view.acquisition_year - 1).to_string();
    writeln!(
        out,
        "\nNew partners, {this_year} against {previous_year} ({})",
        view.acquisition_granularity
    )?;
    let rows: Vec<Vec<String>> = view
        .new_partner_acquisition
        .iter()
        .map(|period| {
            vec![
                period_label(&view.acquisition_granularity, period.period),
                period.this_year.count.to_string(),
                period.previous_year.count.to_string(),
            ]
        })
        .collect();
    write_table(out, &["PERIOD", &this_year, &previous_year], &rows)?;

    writeln!(
        out,
        "\nPartners whose chargeable units fell more than {}% last month",
        view.chargeable_drop_threshold_percent
    )?;
    if view.chargeable_drops.is_empty() {
        writeln!(out, "no product had chargeable units the month before")?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = view
        .chargeable_drops
        .iter()
        .map(|drop| vec![drop.product.clone(), drop.partners.count.to_string()])
        .collect();
    write_table(out, &["PRODUCT", "PARTNERS"], &rows)
}

fn section(
    out: &mut impl Write,
    title: &str,
    figures: &[StatusFigure],
    shown: bool,
) -> io::Result<()> {
    writeln!(out, "\n{title}")?;
    if !shown {
        return writeln!(out, "not shown to this distributor");
    }
    let rows: Vec<Vec<String>> = figures
        .iter()
        .map(|entry| vec![entry.status.clone(), entry.figure.count.to_string()])
        .collect();
    write_table(out, &["STATUS", "COUNT"], &rows)
}

/// `Jan`…`Dec`, or `Q1`…`Q4`.
fn period_label(granularity: &str, period: i32) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if granularity == "quarterly" {
        return format!("Q{period}");
    }
    usize::try_from(period - 1)
        .ok()
        .and_then(|index| MONTHS.get(index))
        .map_or_else(|| period.to_string(), |month| month.to_string())
}
