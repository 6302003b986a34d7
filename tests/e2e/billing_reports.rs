//! SPEC section 3, usage and billing reports: the figures of a month, the
//! status flows with every illegal transition refused naming the current
//! status, the comment rule, auto-submission after the distributor's
//! deadline, and exact money.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use estate_e2e::{mask, pinned_now, with_key};
use estate_proto::billing::reports_service_client::ReportsServiceClient;
use estate_proto::billing::{
    BillingReport, BillingReportStatus, BillingSettings, LicenseType, ListBillingReportsRequest,
    PartnerType, PrepareUsageReportsRequest, UpdateBillingReportRequest,
    UpdateBillingSettingsRequest, UpdateUsageReportRequest, UsageReportStatus, UsageReportSummary,
};
use estate_proto::common::Money;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::assert_code;
use crate::billing::Distribution;

pub(crate) fn reports(world: &Distribution) -> ReportsServiceClient<Channel> {
    ReportsServiceClient::new(world.channel.clone())
}

fn violation(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .precondition_failure()
        .expect("a precondition failure")
        .violations[0]
        .r#type
        .clone()
}

pub(crate) async fn prepare(world: &Distribution, month: &str) -> Vec<UsageReportSummary> {
    reports(world)
        .prepare_usage_reports(with_key(
            PrepareUsageReportsRequest {
                parent: world.parent(),
                month: month.into(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .usage_reports
}

/// A status-changing request: its name, and a reason where it takes one.
trait Action: Default {
    fn set(&mut self, name: String, comment: &str);
}

macro_rules! actions {
    ($($request:ident),* $(,)?) => {
        $(impl Action for estate_proto::billing::$request {
            fn set(&mut self, name: String, _comment: &str) {
                self.name = name;
            }
        })*
    };
}

actions!(
    SubmitUsageReportRequest,
    ApproveUsageReportRequest,
    SubmitBillingReportRequest,
    ReturnBillingReportRequest,
    RejectBillingReportRequest,
    AcceptBillingReportRequest,
    CompleteBillingReportRequest,
);

impl Action for estate_proto::billing::RejectUsageReportRequest {
    fn set(&mut self, name: String, comment: &str) {
        self.name = name;
        self.comment = comment.into();
    }
}

fn action<T: Action>(report: &UsageReportSummary, key: &str, comment: &str) -> tonic::Request<T> {
    let mut request = T::default();
    request.set(report.name.clone(), comment);
    with_key(request, key)
}

/// `UpdateUsageReport` of `report` as `key`: the fields of `changes`
/// named by `paths`, checked against `etag` unless it is empty.
fn edit(
    report: &UsageReportSummary,
    changes: UsageReportSummary,
    paths: &[&str],
    etag: &str,
    key: &str,
) -> tonic::Request<UpdateUsageReportRequest> {
    with_key(
        UpdateUsageReportRequest {
            usage_report: Some(UsageReportSummary {
                name: report.name.clone(),
                ..changes
            }),
            update_mask: mask(paths),
            etag: etag.into(),
        },
        key,
    )
}

/// An [`edit`] of the used units alone.
fn used_edit(
    report: &UsageReportSummary,
    used: i64,
    etag: &str,
    key: &str,
) -> tonic::Request<UpdateUsageReportRequest> {
    let changes = UsageReportSummary {
        used_units: Some(used),
        ..Default::default()
    };
    edit(report, changes, &["used_units"], etag, key)
}

/// An [`edit`] of the comment alone, without an etag check.
fn comment_edit(
    report: &UsageReportSummary,
    comment: &str,
    key: &str,
) -> tonic::Request<UpdateUsageReportRequest> {
    let changes = UsageReportSummary {
        comment: comment.into(),
        ..Default::default()
    };
    edit(report, changes, &["comment"], "", key)
}

/// Sets the distributor's auto-submission deadline, as the platform
/// administrator.
async fn auto_submit_after(world: &Distribution, days: i32) {
    reports(world)
        .update_billing_settings(with_key(
            UpdateBillingSettingsRequest {
                settings: Some(BillingSettings {
                    name: format!("{}/billingSettings", world.parent()),
                    auto_submit_after_days: days,
                    ..Default::default()
                }),
                update_mask: mask(&["auto_submit_after_days"]),
                etag: String::new(),
            },
            &world.platform.admin_key,
        ))
        .await
        .unwrap();
}

pub(crate) async fn billing_reports(world: &Distribution) -> Vec<BillingReport> {
    reports(world)
        .list_billing_reports(with_key(
            ListBillingReportsRequest {
                parent: world.parent(),
                ..Default::default()
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
        .billing_reports
}

/// A partner with one customer licensed 10 seats from 2026-10-01, who used
/// at most `used` units a day in October; returns the partner's key and
/// the customer.
pub(crate) async fn october(
    world: &Distribution,
    name: &str,
    used: i64,
) -> (String, estate_proto::billing::CustomerAccount) {
    let partner = world.partner(name, PartnerType::Msp, "2026-03-01").await;
    let customer = world.customer(&partner, &format!("{name} customer")).await;
    let plan = world
        .plan(&format!("{name} plan"), LicenseType::Full, false)
        .await;
    world
        .sell(&customer, &plan, 10, "2026-10-01")
        .await
        .unwrap();
    world
        .report(&customer, "2026-10-05", used - 2, &format!("{name}-5"))
        .await
        .unwrap();
    world
        .report(&customer, "2026-10-06", used, &format!("{name}-6"))
        .await
        .unwrap();
    // Outside October: not counted.
    world
        .report(&customer, "2026-11-02", 50, &format!("{name}-nov"))
        .await
        .unwrap();
    let key = world
        .platform
        .create_api_key(&partner.organization, &["admin"])
        .await
        .unwrap();
    (key, customer)
}

#[tokio::test]
async fn a_usage_report_flows_from_preparing_to_approved_and_bills_its_chargeable_units() {
    let world = Distribution::build().await;
    let (partner_key, customer) = october(&world, "Contoso IT", 8).await;
    let prepared = prepare(&world, "2026-10").await;
    assert_eq!(prepared.len(), 1, "{prepared:?}");
    let report = &prepared[0];
    assert_eq!(report.status(), UsageReportStatus::Preparing);
    assert_eq!(
        (
            report.provisioned_units,
            report.used_units,
            report.chargeable_units,
            report.over_provisioned_percent
        ),
        (10, Some(8), 8, 25)
    );

    // Over-provisioned: no submission without a comment.
    let status = assert_code(
        reports(&world)
            .submit_usage_report(action(report, &partner_key, ""))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "COMMENT_REQUIRED");
    let commented = reports(&world)
        .update_usage_report(comment_edit(
            report,
            "seats bought ahead of a rollout",
            &partner_key,
        ))
        .await
        .unwrap()
        .into_inner();
    let submitted = reports(&world)
        .submit_usage_report(action(&commented, &partner_key, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status(), UsageReportStatus::UnderReview);
    assert!(submitted.submit_time.is_some());

    // Under review: the partner can neither edit nor approve.
    let status = assert_code(
        reports(&world)
            .update_usage_report(comment_edit(report, "late", &partner_key))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "INVALID_REPORT_TRANSITION");
    assert!(status.message().contains("under_review"), "{status:?}");
    assert_code(
        reports(&world)
            .approve_usage_report(action(report, &partner_key, ""))
            .await,
        Code::PermissionDenied,
    );

    // Rejected (with a reason), corrected by the partner: back to
    // preparing, then submitted and approved.
    assert_code(
        reports(&world)
            .reject_usage_report(action(report, &world.distributor_key, ""))
            .await,
        Code::InvalidArgument,
    );
    let rejected = reports(&world)
        .reject_usage_report(action(report, &world.distributor_key, "used 9 on the 7th"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rejected.status(), UsageReportStatus::Rejected);
    let corrected = reports(&world)
        .update_usage_report(used_edit(report, 9, &rejected.etag, &partner_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(corrected.status(), UsageReportStatus::Preparing);
    assert_eq!(
        (
            corrected.chargeable_units,
            corrected.over_provisioned_percent
        ),
        (9, 11)
    );
    reports(&world)
        .submit_usage_report(action(report, &partner_key, ""))
        .await
        .unwrap();
    let approved = reports(&world)
        .approve_usage_report(action(report, &world.distributor_key, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.status(), UsageReportStatus::Approved);
    let status = assert_code(
        reports(&world)
            .approve_usage_report(action(report, &world.distributor_key, ""))
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("is approved"), "{status:?}");

    // Preparing it again, with new October usage reported since, does not
    // touch an approved report.
    world
        .report(&customer, "2026-10-07", 10, "Contoso IT-7")
        .await
        .unwrap();
    let again = prepare(&world, "2026-10").await;
    assert_eq!(again[0].status(), UsageReportStatus::Approved);
    assert_eq!(again[0].chargeable_units, 9);
    assert_eq!(
        again[0].etag, approved.etag,
        "the approved report is unchanged"
    );

    let billing = billing_reports(&world).await;
    assert_eq!(billing.len(), 1);
    assert_eq!(billing[0].status(), BillingReportStatus::Preparing);
    assert_eq!(
        (billing[0].units, billing[0].month.as_str()),
        (9, "2026-10")
    );
    assert_eq!(billing[0].usage_report, report.name);
}

fn billing_action<T: Action>(report: &BillingReport, key: &str) -> tonic::Request<T> {
    let mut request = T::default();
    request.set(report.name.clone(), "");
    with_key(request, key)
}

#[tokio::test]
async fn a_billing_report_needs_a_po_and_a_price_and_only_the_platform_reviews_it() {
    let world = Distribution::build().await;
    let (partner_key, _) = october(&world, "Contoso IT", 9).await;
    let report = prepare(&world, "2026-10").await.remove(0);
    let report = reports(&world)
        .update_usage_report(comment_edit(&report, "rollout", &partner_key))
        .await
        .unwrap()
        .into_inner();
    reports(&world)
        .submit_usage_report(action(&report, &partner_key, ""))
        .await
        .unwrap();
    reports(&world)
        .approve_usage_report(action(&report, &world.distributor_key, ""))
        .await
        .unwrap();
    let billing = billing_reports(&world).await.remove(0);

    let status = assert_code(
        reports(&world)
            .submit_billing_report(billing_action(&billing, &world.distributor_key))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "BILLING_REPORT_INCOMPLETE");
    // A price without a PO number is still incomplete.
    reports(&world)
        .update_billing_report(with_key(
            UpdateBillingReportRequest {
                billing_report: Some(BillingReport {
                    name: billing.name.clone(),
                    unit_price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: 1234,
                    }),
                    ..Default::default()
                }),
                update_mask: mask(&["unit_price"]),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    let status = assert_code(
        reports(&world)
            .submit_billing_report(billing_action(&billing, &world.distributor_key))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "BILLING_REPORT_INCOMPLETE");
    // 9 units at 12.34 EUR less 14.5%: 111.06 EUR, total 94.9563 → 94.96
    // (rounded half up, not truncated).
    let priced = reports(&world)
        .update_billing_report(with_key(
            UpdateBillingReportRequest {
                billing_report: Some(BillingReport {
                    name: billing.name.clone(),
                    po_number: "PO-2026-10".into(),
                    unit_price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: 1234,
                    }),
                    channel_margin_basis_points: 1450,
                    ..Default::default()
                }),
                update_mask: mask(&["po_number", "unit_price", "channel_margin_basis_points"]),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(priced.amount.as_ref().unwrap().amount_minor, 11_106);
    assert_eq!(priced.total.as_ref().unwrap().amount_minor, 9_496);
    assert_eq!(priced.total.as_ref().unwrap().currency_code, "EUR");
    let status = assert_code(
        reports(&world)
            .update_billing_report(with_key(
                UpdateBillingReportRequest {
                    billing_report: Some(BillingReport {
                        name: billing.name.clone(),
                        channel_margin_basis_points: 10_001,
                        ..Default::default()
                    }),
                    update_mask: mask(&["channel_margin_basis_points"]),
                    etag: String::new(),
                },
                &world.distributor_key,
            ))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("channel_margin_basis_points"));

    let submitted = reports(&world)
        .submit_billing_report(billing_action(&billing, &world.distributor_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status(), BillingReportStatus::UnderReviewManual);
    // The distributor cannot review its own report.
    assert_code(
        reports(&world)
            .accept_billing_report(billing_action(&billing, &world.distributor_key))
            .await,
        Code::PermissionDenied,
    );
    let admin = world.platform.admin_key.clone();
    let returned = reports(&world)
        .return_billing_report(billing_action(&billing, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(returned.status(), BillingReportStatus::Returned);
    reports(&world)
        .submit_billing_report(billing_action(&billing, &world.distributor_key))
        .await
        .unwrap();
    let accepted = reports(&world)
        .accept_billing_report(billing_action(&billing, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.status(), BillingReportStatus::Submitted);
    // Submitted: no edits, no return.
    let status = assert_code(
        reports(&world)
            .update_billing_report(with_key(
                UpdateBillingReportRequest {
                    billing_report: Some(BillingReport {
                        name: billing.name.clone(),
                        po_number: "PO-LATE".into(),
                        ..Default::default()
                    }),
                    update_mask: mask(&["po_number"]),
                    etag: String::new(),
                },
                &world.distributor_key,
            ))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "INVALID_REPORT_TRANSITION");
    assert!(status.message().contains("is submitted"), "{status:?}");
    let status = assert_code(
        reports(&world)
            .return_billing_report(billing_action(&billing, &admin))
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("is submitted"), "{status:?}");
    let completed = reports(&world)
        .complete_billing_report(billing_action(&billing, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(completed.status(), BillingReportStatus::Completed);
    let status = assert_code(
        reports(&world)
            .complete_billing_report(billing_action(&billing, &admin))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "INVALID_REPORT_TRANSITION");
    assert!(status.message().contains("is completed"), "{status:?}");
}

async fn get_usage_report(world: &Distribution, report: &UsageReportSummary) -> UsageReportSummary {
    reports(world)
        .get_usage_report(with_key(
            estate_proto::billing::GetUsageReportRequest {
                name: report.name.clone(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn wait_for_status(
    world: &Distribution,
    report: &UsageReportSummary,
    wanted: UsageReportStatus,
) -> UsageReportSummary {
    for _ in 0..200 {
        let current = get_usage_report(world, report).await;
        if current.status() == wanted {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} never became {wanted:?}", report.name);
}

#[tokio::test]
async fn overdue_reports_are_auto_submitted_and_uncommented_over_provisioning_is_charged_and_flagged()
 {
    let world = Distribution::build_with(estate_e2e::Options {
        auto_submit_poll_interval: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    october(&world, "Over", 8).await;
    october(&world, "Exact", 10).await;
    let (commented_key, _) = october(&world, "Commented", 8).await;
    // This distributor's deadline: 30 days after the month, so 2026-12-01.
    auto_submit_after(&world, 30).await;
    let prepared = prepare(&world, "2026-10").await;
    assert_eq!(prepared.len(), 3);
    // One over-provisioned partner explained itself before the deadline.
    let mut explained = None;
    for report in &prepared {
        let answer = reports(&world)
            .update_usage_report(comment_edit(report, "seats for a rollout", &commented_key))
            .await;
        if let Ok(answer) = answer {
            explained = Some(answer.into_inner().name);
        }
    }
    let explained = explained.expect("the partner's own report took its comment");
    tokio::time::sleep(Duration::from_millis(200)).await;
    for report in &prepared {
        let current = wait_for_status(&world, report, UsageReportStatus::Preparing).await;
        assert!(!current.auto_submitted);
    }

    // The deadline is 2026-12-01 (October ended 2026-11-01, plus 30
    // days). The day before, to its last second, nothing is submitted,
    // however many times the worker looks.
    for time in [
        pinned_now() + chrono::Duration::days(7),
        Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 59).unwrap(),
    ] {
        world.platform.clock.set(time);
        // Ten polls of 20 ms, and then some.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for report in &prepared {
            let current = get_usage_report(&world, report).await;
            assert_eq!(current.status(), UsageReportStatus::Preparing, "{time}");
            assert!(!current.auto_submitted, "{time}: {current:?}");
            assert!(current.submit_time.is_none(), "{time}: {current:?}");
        }
    }

    // The deadline comes: from its first second, all are submitted by the
    // platform.
    let deadline = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    world.platform.clock.set(deadline);
    let mut flagged = 0;
    for report in &prepared {
        let submitted = wait_for_status(&world, report, UsageReportStatus::UnderReview).await;
        assert!(submitted.auto_submitted);
        assert_eq!(
            submitted.submit_time,
            Some(estate_proto::time::to_timestamp(deadline))
        );
        if submitted.name == explained {
            // Over-provisioned but explained: charged on used units.
            assert!(!submitted.flagged);
            assert_eq!(submitted.chargeable_units, 8);
        } else if submitted.provisioned_units > submitted.used_units.unwrap() {
            // Uncommented over-provisioning: charged on provisioned units.
            assert!(submitted.flagged);
            assert_eq!(submitted.chargeable_units, 10);
            flagged += 1;
        } else {
            assert!(!submitted.flagged);
            assert_eq!(submitted.chargeable_units, 10);
        }
        reports(&world)
            .approve_usage_report(action(report, &world.distributor_key, ""))
            .await
            .unwrap();
    }
    assert_eq!(flagged, 1);
    let billed = billing_reports(&world).await;
    // Each bills its chargeable units: the flagged one its provisioned 10.
    let mut units: Vec<(BillingReportStatus, i64)> = billed
        .iter()
        .map(|report| (report.status(), report.units))
        .collect();
    units.sort_by_key(|(status, units)| (*status as i32, *units));
    assert_eq!(
        units,
        [
            (BillingReportStatus::UnderReviewAutomatic, 8),
            (BillingReportStatus::UnderReviewAutomatic, 10),
            (BillingReportStatus::UnderReviewAutomaticWithPenalties, 10)
        ]
    );
    // Only platform administrators change the settings.
    assert_code(
        reports(&world)
            .update_billing_settings(with_key(
                UpdateBillingSettingsRequest {
                    settings: Some(BillingSettings {
                        name: format!("{}/billingSettings", world.parent()),
                        auto_submit_after_days: 60,
                        ..Default::default()
                    }),
                    update_mask: mask(&["auto_submit_after_days"]),
                    etag: String::new(),
                },
                &world.distributor_key,
            ))
            .await,
        Code::PermissionDenied,
    );
}

#[tokio::test]
async fn a_flagged_report_the_partner_resubmits_after_rejection_is_charged_on_used_units() {
    let world = Distribution::build_with(estate_e2e::Options {
        auto_submit_poll_interval: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let (partner_key, _) = october(&world, "Over", 8).await;
    auto_submit_after(&world, 30).await;
    let prepared = prepare(&world, "2026-10").await;
    let report = &prepared[0];
    world
        .platform
        .clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    let flagged = wait_for_status(&world, report, UsageReportStatus::UnderReview).await;
    assert!(flagged.auto_submitted && flagged.flagged, "{flagged:?}");
    assert_eq!(flagged.chargeable_units, 10);
    // More days from now on, so the worker leaves the report to the
    // partner once it is back in preparing.
    auto_submit_after(&world, 90).await;

    // Rejected: the reason is the distributor's, the comment stays the
    // partner's (empty), so it cannot pass for the explanation.
    let rejected = reports(&world)
        .reject_usage_report(action(
            report,
            &world.distributor_key,
            " explain the seats ",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            rejected.comment.as_str(),
            rejected.rejection_reason.as_str()
        ),
        ("", "explain the seats")
    );
    // Back to preparing without a comment: still no submission.
    let unexplained = reports(&world)
        .update_usage_report(used_edit(report, 8, "", &partner_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unexplained.rejection_reason, "explain the seats");
    // Preparing again, it is the partner's report: no longer shown as
    // auto-submitted, flagged, nor charged on provisioned units.
    assert!(
        !unexplained.auto_submitted && !unexplained.flagged,
        "{unexplained:?}"
    );
    assert_eq!(unexplained.chargeable_units, 8);
    let status = assert_code(
        reports(&world)
            .submit_usage_report(action(&unexplained, &partner_key, ""))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "COMMENT_REQUIRED");

    // Explained and submitted by the partner: charged on the 8 used
    // units, as any explained report.
    let explained = reports(&world)
        .update_usage_report(comment_edit(report, "seats for a rollout", &partner_key))
        .await
        .unwrap()
        .into_inner();
    let submitted = reports(&world)
        .submit_usage_report(action(&explained, &partner_key, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status(), UsageReportStatus::UnderReview);
    assert!(
        !submitted.auto_submitted && !submitted.flagged,
        "{submitted:?}"
    );
    assert_eq!(
        (
            submitted.comment.as_str(),
            submitted.rejection_reason.as_str()
        ),
        ("seats for a rollout", "")
    );
    assert_eq!(submitted.chargeable_units, 8);
    reports(&world)
        .approve_usage_report(action(report, &world.distributor_key, ""))
        .await
        .unwrap();
    let billed = billing_reports(&world).await;
    assert_eq!(billed.len(), 1);
    assert_eq!(billed[0].units, 8);
    assert_eq!(billed[0].status(), BillingReportStatus::Preparing);
}

#[tokio::test]
async fn trial_seats_and_their_usage_are_never_charged() {
    let world = Distribution::build().await;
    // Only a trial sold, 20 units used: nothing to charge.
    let trial_only = world
        .partner("Trial only", PartnerType::Msp, "2026-03-01")
        .await;
    let customer = world.customer(&trial_only, "Trial customer").await;
    let trial = world.plan("Trial", LicenseType::Trial, false).await;
    world
        .sell(&customer, &trial, 20, "2026-10-01")
        .await
        .unwrap();
    world
        .report(&customer, "2026-10-06", 20, "trial-6")
        .await
        .unwrap();
    // 10 full and 5 trial seats, 13 used: the 3 within the trial seats are
    // not charged; 18 used: 5 trial, 13 charged (beyond every seat counts).
    let mixed = world.partner("Mixed", PartnerType::Msp, "2026-03-01").await;
    let first = world.customer(&mixed, "Mixed 1").await;
    let second = world.customer(&mixed, "Mixed 2").await;
    let full = world.plan("Full", LicenseType::Full, false).await;
    for customer in [&first, &second] {
        world.sell(customer, &full, 10, "2026-10-01").await.unwrap();
        world.sell(customer, &trial, 5, "2026-10-01").await.unwrap();
    }
    world
        .report(&first, "2026-10-07", 13, "mixed-1")
        .await
        .unwrap();
    world
        .report(&second, "2026-10-07", 18, "mixed-2")
        .await
        .unwrap();

    let prepared = prepare(&world, "2026-10").await;
    let of = |partner: &estate_proto::billing::Partner| {
        prepared
            .iter()
            .find(|report| report.name.starts_with(&partner.name))
            .cloned()
            .unwrap()
    };
    // Nothing provisioned, nothing chargeable used: nothing to report.
    assert!(
        prepared
            .iter()
            .all(|report| !report.name.starts_with(&trial_only.name)),
        "{prepared:?}"
    );
    let mixed_report = of(&mixed);
    assert_eq!(mixed_report.provisioned_units, 20, "{mixed_report:?}");
    assert_eq!(mixed_report.used_units, Some(10 + 13), "{mixed_report:?}");
    assert_eq!(mixed_report.chargeable_units, 23, "{mixed_report:?}");
}

/// A billing report's unit price comes from the product's plan (the price
/// in force on the first day of the month) and its margin from the
/// partner, when the report is made.
#[tokio::test]
async fn a_billing_report_is_priced_from_its_plan_and_partner_when_made() {
    use estate_proto::billing::service_plans_service_client::ServicePlansServiceClient;
    use estate_proto::billing::{
        PlanPrice, ServicePlan, UpdatePartnerRequest, UpdateServicePlanRequest,
    };
    let world = Distribution::build().await;
    let partner = world
        .partner("Priced", PartnerType::Msp, "2026-03-01")
        .await;
    world
        .partners()
        .update_partner(with_key(
            UpdatePartnerRequest {
                partner: Some(estate_proto::billing::Partner {
                    name: partner.name.clone(),
                    channel_margin_basis_points: 1_500,
                    ..Default::default()
                }),
                update_mask: mask(&["channel_margin_basis_points"]),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    let customer = world.customer(&partner, "Priced customer").await;
    let plan = world.plan("Priced plan", LicenseType::Full, false).await;
    let price = |from: &str, minor: i64| PlanPrice {
        effective_from: from.into(),
        unit_price: Some(Money {
            currency_code: "EUR".into(),
            amount_minor: minor,
        }),
    };
    let mut plans = ServicePlansServiceClient::new(world.channel.clone());
    let update = |prices: Vec<PlanPrice>| {
        with_key(
            UpdateServicePlanRequest {
                service_plan: Some(ServicePlan {
                    name: plan.name.clone(),
                    prices,
                    ..Default::default()
                }),
                update_mask: mask(&["prices"]),
                etag: String::new(),
            },
            &world.distributor_key,
        )
    };
    // Bad prices are refused, every one named.
    let status = assert_code(
        plans
            .update_service_plan(update(vec![
                price("2026-09-01", -1),
                price("2026-09-01", 5),
            ]))
            .await,
        Code::InvalidArgument,
    );
    let fields: Vec<String> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    assert!(
        fields.contains(&"service_plan.prices[0].unit_price.amount_minor".to_string())
            && fields.contains(&"service_plan.prices".to_string()),
        "{fields:?}"
    );
    let priced = plans
        .update_service_plan(update(vec![
            price("2026-11-01", 1_200),
            price("2026-09-01", 1_000),
        ]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        priced
            .prices
            .iter()
            .map(|price| price.effective_from.as_str())
            .collect::<Vec<_>>(),
        ["2026-09-01", "2026-11-01"],
        "earliest first"
    );
    world
        .sell(&customer, &plan, 10, "2026-10-01")
        .await
        .unwrap();
    world
        .report(&customer, "2026-10-06", 8, "priced-6")
        .await
        .unwrap();
    let prepared = prepare(&world, "2026-10").await;
    let report = prepared
        .iter()
        .find(|report| report.name.starts_with(&partner.name))
        .unwrap();
    let partner_key = world
        .platform
        .create_api_key(&partner.organization, &["admin"])
        .await
        .unwrap();
    let explained = reports(&world)
        .update_usage_report(comment_edit(report, "spare seats", &partner_key))
        .await
        .unwrap()
        .into_inner();
    reports(&world)
        .submit_usage_report(action(&explained, &world.distributor_key, ""))
        .await
        .unwrap();
    reports(&world)
        .approve_usage_report(action(report, &world.distributor_key, ""))
        .await
        .unwrap();
    let billing = billing_reports(&world)
        .await
        .into_iter()
        .find(|billing| billing.partner == partner.name)
        .unwrap();
    // October: the September price; 8 units; 15% margin.
    assert_eq!(billing.units, 8);
    assert_eq!(billing.unit_price.as_ref().unwrap().amount_minor, 1_000);
    assert_eq!(billing.channel_margin_basis_points, 1_500);
    assert_eq!(billing.amount.as_ref().unwrap().amount_minor, 8_000);
    assert_eq!(billing.total.as_ref().unwrap().amount_minor, 6_800);
}

/// An auto-submitted report of a product without a price cannot be
/// accepted or completed: the platform returns it, the distributor prices
/// it, and only then does it complete, with an amount.
#[tokio::test]
async fn a_billing_report_without_an_amount_never_completes() {
    let world = Distribution::build_with(estate_e2e::Options {
        auto_submit_poll_interval: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let (_, _) = october(&world, "Unpriced", 8).await;
    auto_submit_after(&world, 30).await;
    let prepared = prepare(&world, "2026-10").await;
    let report = &prepared[0];
    world
        .platform
        .clock
        .set(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    let flagged = wait_for_status(&world, report, UsageReportStatus::UnderReview).await;
    assert!(flagged.flagged, "{flagged:?}");
    reports(&world)
        .approve_usage_report(action(report, &world.distributor_key, ""))
        .await
        .unwrap();
    let billing = billing_reports(&world).await.remove(0);
    assert_eq!(
        billing.status(),
        BillingReportStatus::UnderReviewAutomaticWithPenalties
    );
    assert!(billing.unit_price.is_none() && billing.amount.is_none());
    let admin = &world.platform.admin_key;
    let by_name = |report: &BillingReport| UsageReportSummary {
        name: report.name.clone(),
        ..Default::default()
    };
    let status = assert_code(
        reports(&world)
            .accept_billing_report(action(&by_name(&billing), admin, ""))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(violation(&status), "PRICE_MISSING");
    reports(&world)
        .return_billing_report(action(&by_name(&billing), admin, ""))
        .await
        .unwrap();
    reports(&world)
        .update_billing_report(with_key(
            UpdateBillingReportRequest {
                billing_report: Some(BillingReport {
                    name: billing.name.clone(),
                    po_number: "PO-7".into(),
                    unit_price: Some(Money {
                        currency_code: "EUR".into(),
                        amount_minor: 250,
                    }),
                    ..Default::default()
                }),
                update_mask: mask(&["po_number", "unit_price"]),
                etag: String::new(),
            },
            &world.distributor_key,
        ))
        .await
        .unwrap();
    reports(&world)
        .submit_billing_report(action(&by_name(&billing), &world.distributor_key, ""))
        .await
        .unwrap();
    reports(&world)
        .accept_billing_report(action(&by_name(&billing), admin, ""))
        .await
        .unwrap();
    let completed = reports(&world)
        .complete_billing_report(action(&by_name(&billing), admin, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(completed.status(), BillingReportStatus::Completed);
    // Flagged: charged on the 10 provisioned units.
    assert_eq!(completed.amount.unwrap().amount_minor, 2_500);
}

/// Each side keeps its own comment, with who wrote it and when; neither
/// writes the other's.
#[tokio::test]
async fn each_side_keeps_its_own_comment_with_its_author_and_time() {
    let world = Distribution::build().await;
    let (partner_key, _) = october(&world, "Sides", 8).await;
    let prepared = prepare(&world, "2026-10").await;
    let report = &prepared[0];
    let explained = reports(&world)
        .update_usage_report(comment_edit(report, "seats for a rollout", &partner_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(explained.comment, "seats for a rollout");
    assert!(
        explained.comment_author.starts_with("organizations/"),
        "{explained:?}"
    );
    assert_eq!(
        explained.comment_time.as_ref().map(|time| time.seconds),
        Some(pinned_now().timestamp())
    );
    // The distributor cannot overwrite it, nor the partner the
    // distributor's.
    let status = assert_code(
        reports(&world)
            .update_usage_report(comment_edit(report, "overwritten", &world.distributor_key))
            .await,
        Code::PermissionDenied,
    );
    assert!(
        status.message().contains("distributor_comment"),
        "{status:?}"
    );
    let distributor_note = |key: &str| {
        let changes = UsageReportSummary {
            distributor_comment: "checked against the PO".into(),
            ..Default::default()
        };
        edit(report, changes, &["distributor_comment"], "", key)
    };
    assert_code(
        reports(&world)
            .update_usage_report(distributor_note(&partner_key))
            .await,
        Code::PermissionDenied,
    );
    // Submitted, under review: the distributor's remark changes neither
    // the status nor the partner's comment.
    reports(&world)
        .submit_usage_report(action(&explained, &partner_key, ""))
        .await
        .unwrap();
    world.platform.clock.advance(chrono::Duration::hours(1));
    let noted = reports(&world)
        .update_usage_report(distributor_note(&world.distributor_key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(noted.status(), UsageReportStatus::UnderReview);
    assert_eq!(noted.comment, "seats for a rollout");
    assert_eq!(noted.comment_author, explained.comment_author);
    assert_eq!(noted.distributor_comment, "checked against the PO");
    assert!(!noted.distributor_comment_author.is_empty());
    assert_ne!(noted.distributor_comment_author, noted.comment_author);
    assert_eq!(
        noted
            .distributor_comment_time
            .as_ref()
            .map(|time| time.seconds),
        Some((pinned_now() + chrono::Duration::hours(1)).timestamp())
    );
}
