//! `estate.licensing.v1.ComplianceService`.

use estate_auth::Access;
use estate_proto::names::CustomerId;
use std::pin::Pin;

use estate_compliance::Phase;
use estate_db::{PageRequest, RequestKey, SortedPage, commit, filter_fingerprint, transaction};
use estate_errors::{ApiError, Violations};
use estate_proto::fields::{fingerprint, request_id};
use estate_proto::licensing::compliance_service_server::ComplianceService;
use estate_proto::licensing::{
    CalculateComplianceRequest, CalculationPhase, CalculationProgress, ComplianceFigures,
    ComplianceLevel, ComplianceReport, ComplianceRow as ProtoComplianceRow,
    ComplianceRun as ProtoRun, ConsumerCompliance, ConsumerStatus, CreateExclusionRequest,
    DeleteExclusionRequest, DeleteExclusionResponse, Exclusion as ProtoExclusion,
    ExportComplianceReportRequest, GetComplianceRunRequest, InvalidAssignment, InvalidReason,
    LicenseCompliance, LicenseComplianceStatus, ListComplianceRequest, ListComplianceResponse,
    ListComplianceRunsRequest, ListComplianceRunsResponse, ListConsumerComplianceRequest,
    ListConsumerComplianceResponse, ListExclusionsRequest, ListExclusionsResponse,
    ListInvalidAssignmentsRequest, ListInvalidAssignmentsResponse, ListLicenseComplianceRequest,
    ListLicenseComplianceResponse, ListTransfersRequest, ListTransfersResponse, ReportChunk,
    RunState, RunTrigger, Transfer, transfer,
};
use estate_proto::time::to_timestamp;
use estate_server::admission::Share;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;
use uuid::Uuid;

use super::{child_name, customer_id, name, not_found, optional_name, optional_reference, token};
use crate::compliance::reports::{
    self, ComplianceFilter, ConsumerFilter, ConsumerStatusFilter, Level,
};
use crate::compliance::rows::{Figures, InvalidRow, LicenseRow};
use crate::compliance::store::{self, Run};
use crate::compliance::{self, Progress, Step};
use crate::db::exclusions::{self, Exclusion};

/// `estate.licensing.v1.ComplianceService`.
#[derive(Debug, Clone)]
pub struct Compliance(pub std::sync::Arc<crate::AppState>);

type ProgressStream = Pin<Box<dyn Stream<Item = Result<CalculationProgress, Status>> + Send>>;
type ReportStream = Pin<Box<dyn Stream<Item = Result<ReportChunk, Status>> + Send>>;

fn phase(step: Step) -> CalculationPhase {
    match step {
        Step::Reading => CalculationPhase::Reading,
        Step::Engine(Phase::Validating) => CalculationPhase::Validating,
        Step::Engine(Phase::Requirements) => CalculationPhase::Requirements,
        Step::Engine(Phase::Upgrades) => CalculationPhase::Upgrades,
        Step::Engine(Phase::Assignments) => CalculationPhase::Assignments,
        Step::Engine(Phase::FixedPools) => CalculationPhase::FixedPools,
        Step::Engine(Phase::AutomaticAllocation) => CalculationPhase::AutomaticAllocation,
        Step::Engine(Phase::Results) => CalculationPhase::Results,
        Step::Storing => CalculationPhase::Storing,
    }
}

fn figures_to_proto(figures: Figures) -> ComplianceFigures {
    ComplianceFigures {
        initial_requirement: figures.initial_requirement,
        adjustments: figures.adjustments,
        requirement: figures.requirement,
        coverage: figures.coverage,
        compliance: figures.compliance,
        unlimited: figures.unlimited,
    }
}

fn run_name(run: &Run) -> String {
    format!("customers/{}/complianceRuns/{}", run.customer_id, run.id)
}

fn run_to_proto(run: Run) -> ProtoRun {
    ProtoRun {
        name: run_name(&run),
        state: match run.state.as_str() {
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            _ => RunState::Failed,
        }
        .into(),
        trigger: match run.trigger.as_str() {
            "scheduled" => RunTrigger::Scheduled,
            _ => RunTrigger::OnDemand,
        }
        .into(),
        start_time: Some(to_timestamp(run.start_time)),
        end_time: run.end_time.map(to_timestamp),
        error: run.error,
        computers: run.computers,
        installations: run.installations,
        licenses: run.licenses,
        totals: Some(figures_to_proto(run.totals)),
    }
}

fn license_status(status: &str) -> LicenseComplianceStatus {
    match status {
        "valid" => LicenseComplianceStatus::Valid,
        "archived" => LicenseComplianceStatus::Archived,
        "incomplete" => LicenseComplianceStatus::Incomplete,
        "expired_subscription" => LicenseComplianceStatus::ExpiredSubscription,
        "metric_mismatch" => LicenseComplianceStatus::MetricMismatch,
        _ => LicenseComplianceStatus::Unspecified,
    }
}

pub(crate) fn invalid_reason(reason: &str) -> InvalidReason {
    match reason {
        "wrong_consumer_kind" => InvalidReason::WrongConsumerKind,
        "inactive_computer" => InvalidReason::InactiveComputer,
        "not_installed" => InvalidReason::NotInstalled,
        "not_used" => InvalidReason::NotUsed,
        "too_many_processors" => InvalidReason::TooManyProcessors,
        "exceeds_license_quantity" => InvalidReason::ExceedsLicenseQuantity,
        "excess" => InvalidReason::Excess,
        _ => InvalidReason::Unspecified,
    }
}

fn license_to_proto(customer_id: CustomerId, row: LicenseRow) -> LicenseCompliance {
    LicenseCompliance {
        license: name(customer_id, "licenses", row.license_id),
        status: license_status(&row.status).into(),
        unlimited: row.effective_quantity.is_none() && row.status != "incomplete",
        effective_quantity: row.effective_quantity,
        taken_by_upgrades: row.taken_by_upgrades,
        used: row.used,
        surplus: row.surplus,
        assigned: row.assigned,
        unassigned: row.unassigned,
        invalid_assignments: row.invalid_assignments,
        invalid_units: row.invalid_units,
    }
}

fn invalid_to_proto(customer_id: CustomerId, row: InvalidRow) -> InvalidAssignment {
    let license = name(customer_id, "licenses", row.license_id);
    InvalidAssignment {
        assignment: format!("{license}/assignments/{}", row.assignment_id),
        license,
        computer: optional_name(customer_id, "computers", row.computer_id),
        user: optional_name(customer_id, "users", row.user_id),
        reason: invalid_reason(&row.reason).into(),
        units: row.units,
        message: crate::rules::alerts::describe(&row.reason, row.units),
    }
}

fn exclusion_to_proto(exclusion: Exclusion) -> ProtoExclusion {
    let customer_id = exclusion.customer_id;
    ProtoExclusion {
        name: name(customer_id, "exclusions", exclusion.id),
        computer: optional_name(customer_id, "computers", exclusion.computer_id),
        user: optional_name(customer_id, "users", exclusion.user_id),
        application: optional_name(customer_id, "applications", exclusion.application_id),
        reason: exclusion.reason,
        create_time: Some(to_timestamp(exclusion.create_time)),
    }
}

impl Compliance {
    /// Authorizes a read of `parent` and returns the customer and the
    /// latest successful run (`None` before the first).
    async fn latest(
        &self,
        token: &estate_auth::CallerToken,
        customer_id: CustomerId,
    ) -> Result<(estate_db::Connection, Option<Run>), ApiError> {
        self.0
            .authorize(token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let run = store::latest(&**client, customer_id).await?;
        Ok((client, run))
    }
}

/// Exports of one customer streaming at once (each holds its report's
/// stored results in memory until the client has read them).
const MAX_EXPORTS_PER_CUSTOMER: usize = 2;

#[tonic::async_trait]
impl ComplianceService for Compliance {
    type CalculateComplianceStream = ProgressStream;
    type ExportComplianceReportStream = ReportStream;

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn calculate_compliance(
        &self,
        request: Request<CalculateComplianceRequest>,
    ) -> Result<Response<Self::CalculateComplianceStream>, Status> {
        let token = token(&request)?;
        let customer_id = customer_id("parent", &request.get_ref().parent)?;
        // A run writes results and prunes older ones: a change to the
        // customer's data, so it needs write access.
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        // A calculation already running is refused as the call's status,
        // before any stream starts.
        let started = compliance::start(&self.0, customer_id, "on_demand", None).await?;
        let (progress_sender, mut progress) = mpsc::channel::<Progress>(256);
        let (sender, receiver) = mpsc::channel(16);
        let state = self.0.clone();
        // The run belongs to the server, not the call: it finishes (and is
        // recorded) even if the client goes away.
        // Inside the call's span, so the run's own trace links to it.
        let run = tokio::spawn(
            {
                let state = state.clone();
                async move {
                    compliance::finish(&state, started, compliance::Reporter(Some(progress_sender)))
                        .await
                }
            }
            .instrument(tracing::Span::current()),
        );
        tokio::spawn(async move {
            while let Some(report) = progress.recv().await {
                let message = CalculationProgress {
                    phase: phase(report.step).into(),
                    done: report.done,
                    total: report.total,
                    run: None,
                };
                let _ = sender.send(Ok(message)).await;
            }
            let last = match run.await {
                Ok(Ok(run)) => Ok(CalculationProgress {
                    phase: CalculationPhase::Done.into(),
                    done: 1,
                    total: 1,
                    run: Some(run_to_proto(run)),
                }),
                Ok(Err(error)) => Err(Status::from(error)),
                Err(panic) => Err(Status::from(ApiError::internal(panic))),
            };
            let succeeded = last.is_ok();
            let _ = sender.send(last).await;
            drop(sender);
            // After the client has its answer: older results go.
            if succeeded {
                compliance::prune(&state, customer_id).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_compliance_run(
        &self,
        request: Request<GetComplianceRunRequest>,
    ) -> Result<Response<ProtoRun>, Status> {
        let token = token(&request)?;
        let run_name = request.into_inner().name;
        let (customer, rest) = run_name
            .strip_prefix("customers/")
            .and_then(|rest| rest.split_once("/complianceRuns/"))
            .ok_or_else(|| {
                ApiError::invalid(
                    "name",
                    "must be customers/{uuid}/complianceRuns/{uuid|latest}",
                )
            })?;
        let customer_id = Uuid::parse_str(customer)
            .map(CustomerId::from_uuid)
            .map_err(|_| ApiError::invalid("name", "the customer is not a UUID"))?;
        let id = match rest {
            "latest" => None,
            id => Some(
                Uuid::parse_str(id)
                    .map_err(|_| ApiError::invalid("name", "the run is not a UUID or latest"))?,
            ),
        };
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let run = match id {
            Some(id) => store::get(&**client, customer_id, id).await?,
            None => store::latest(&**client, customer_id).await?,
        };
        let run = run.ok_or_else(|| not_found("compliance run", run_name))?;
        Ok(Response::new(run_to_proto(run)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_compliance_runs(
        &self,
        request: Request<ListComplianceRunsRequest>,
    ) -> Result<Response<ListComplianceRunsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let mut runs = store::list(&**client, customer_id, page.after, page.fetch_limit()).await?;
        let next_page_token = page.finish(&mut runs, |run| run.id);
        Ok(Response::new(ListComplianceRunsResponse {
            runs: runs.into_iter().map(run_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_compliance(
        &self,
        request: Request<ListComplianceRequest>,
    ) -> Result<Response<ListComplianceResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let level = match ComplianceLevel::try_from(message.level) {
            Ok(ComplianceLevel::Unspecified | ComplianceLevel::Application) => {
                Some(Level::Application)
            }
            Ok(ComplianceLevel::Family) => Some(Level::Family),
            Ok(ComplianceLevel::Node) => None,
            Err(_) => return Err(ApiError::invalid("level", "is not a ComplianceLevel").into()),
        };
        let filter = ComplianceFilter {
            node: optional_reference("node", &message.node, customer_id, "nodes")?,
            family: optional_reference("family", &message.family, customer_id, "families")?,
            application: optional_reference(
                "application",
                &message.application,
                customer_id,
                "applications",
            )?,
            only_shortfalls: message.only_shortfalls,
        };
        let columns = match level {
            Some(Level::Application) => reports::APPLICATION_SORT,
            Some(Level::Family) => reports::FAMILY_SORT,
            None => reports::NODE_SORT,
        };
        // Node rows have tokens of their own (node and position): the
        // sort is validated here, the token below.
        let token_here = if level.is_some() {
            message.page_token.as_str()
        } else {
            ""
        };
        let (client, run) = self.latest(&token, customer_id).await?;
        let Some(run) = run else {
            return Ok(Response::new(ListComplianceResponse::default()));
        };
        let page = SortedPage::parse(
            &message.order_by,
            columns,
            message.page_size,
            token_here,
            &message.parent,
            &format!("{} {level:?} {filter:?}", run.id),
        )?;
        let (rows, next_page_token) = match level {
            Some(level) => {
                reports::compliance(&**client, customer_id, run.id, level, filter, &page).await?
            }
            None => {
                let descending = page.descending();
                let page = page.page_request();
                let tokens = RunTokens::new("nodes", run.id, &(filter, descending));
                let after = match tokens.after(&message.page_token)? {
                    None => None,
                    Some(rest) => Some(position_token(rest)?),
                };
                let mut rows = reports::nodes(
                    &**client,
                    customer_id,
                    run.id,
                    filter,
                    descending,
                    after,
                    page.fetch_limit(),
                )
                .await?;
                let next_page_token = page.finish_with(&mut rows, |row| {
                    tokens.make(format!(
                        "{}:{}",
                        row.row.node.unwrap_or_default(),
                        row.position
                    ))
                });
                (
                    rows.into_iter().map(|row| row.row).collect(),
                    next_page_token,
                )
            }
        };
        Ok(Response::new(ListComplianceResponse {
            run: run_name(&run),
            rows: rows
                .into_iter()
                .map(|row| ProtoComplianceRow {
                    application: optional_name(customer_id, "applications", row.application),
                    family: name(customer_id, "families", row.family),
                    node: optional_name(customer_id, "nodes", row.node),
                    figures: Some(figures_to_proto(row.figures)),
                })
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_license_compliance(
        &self,
        request: Request<ListLicenseComplianceRequest>,
    ) -> Result<Response<ListLicenseComplianceResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, "", "")?;
        let (client, run) = self.latest(&token, customer_id).await?;
        let Some(run) = run else {
            return Ok(Response::new(ListLicenseComplianceResponse::default()));
        };
        let filter = (
            message.only_unassigned,
            message.only_with_invalid_assignments,
        );
        let tokens = RunTokens::new("licenses", run.id, &filter);
        let after = tokens.after_position(&message.page_token)?;
        let mut rows = reports::licenses(
            &**client,
            customer_id,
            run.id,
            message.only_unassigned,
            message.only_with_invalid_assignments,
            after,
            page.fetch_limit(),
        )
        .await?;
        let next_page_token = page.finish_with(&mut rows, |(position, _)| tokens.make(position));
        Ok(Response::new(ListLicenseComplianceResponse {
            run: run_name(&run),
            licenses: rows
                .into_iter()
                .map(|(_, row)| license_to_proto(customer_id, row))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_invalid_assignments(
        &self,
        request: Request<ListInvalidAssignmentsRequest>,
    ) -> Result<Response<ListInvalidAssignmentsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let license = optional_reference("license", &message.license, customer_id, "licenses")?;
        let page = PageRequest::parse(message.page_size, "", "")?;
        let (client, run) = self.latest(&token, customer_id).await?;
        let Some(run) = run else {
            return Ok(Response::new(ListInvalidAssignmentsResponse::default()));
        };
        let tokens = RunTokens::new("invalid assignments", run.id, &license);
        let after = tokens.after_position(&message.page_token)?;
        let mut rows = reports::invalid_assignments(
            &**client,
            customer_id,
            run.id,
            license,
            after,
            page.fetch_limit(),
        )
        .await?;
        let next_page_token = page.finish_with(&mut rows, |(position, _)| tokens.make(position));
        Ok(Response::new(ListInvalidAssignmentsResponse {
            run: run_name(&run),
            invalid_assignments: rows
                .into_iter()
                .map(|(_, row)| invalid_to_proto(customer_id, row))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_consumer_compliance(
        &self,
        request: Request<ListConsumerComplianceRequest>,
    ) -> Result<Response<ListConsumerComplianceResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let mut violations = Violations::new();
        if !message.computer.is_empty() && !message.user.is_empty() {
            violations.add("user", "filter by a computer or a user, not both");
        }
        violations.finish()?;
        let computer = optional_reference("computer", &message.computer, customer_id, "computers")?;
        let user = optional_reference("user", &message.user, customer_id, "users")?;
        let status = match ConsumerStatus::try_from(message.status) {
            Ok(ConsumerStatus::Unspecified) => None,
            Ok(ConsumerStatus::Covered) => Some(ConsumerStatusFilter::Covered),
            Ok(ConsumerStatus::NotCovered) => Some(ConsumerStatusFilter::NotCovered),
            Ok(ConsumerStatus::NoRequirement) => Some(ConsumerStatusFilter::NoRequirement),
            Err(_) => return Err(ApiError::invalid("status", "is not a ConsumerStatus").into()),
        };
        let filter = ConsumerFilter {
            consumer: computer.map(|id| (id, false)).or(user.map(|id| (id, true))),
            application: optional_reference(
                "application",
                &message.application,
                customer_id,
                "applications",
            )?,
            status,
        };
        let page = PageRequest::parse(message.page_size, "", "")?;
        let (client, run) = self.latest(&token, customer_id).await?;
        let Some(run) = run else {
            return Ok(Response::new(ListConsumerComplianceResponse::default()));
        };
        let tokens = RunTokens::new("consumers", run.id, &filter);
        let after = match tokens.after(&message.page_token)? {
            None => None,
            Some(rest) => Some(position_token(rest)?),
        };
        let mut rows = reports::consumers(
            &**client,
            customer_id,
            run.id,
            filter,
            after,
            page.fetch_limit(),
        )
        .await?;
        let next_page_token = page.finish_with(&mut rows, |row| {
            tokens.make(format!("{}:{}", row.consumer_id, row.position))
        });
        Ok(Response::new(ListConsumerComplianceResponse {
            run: run_name(&run),
            consumers: rows
                .into_iter()
                .map(|row| {
                    let (status, reason) = consumer_status(row.status);
                    let consumer = if row.is_user { "users" } else { "computers" };
                    let consumer = name(customer_id, consumer, row.consumer_id);
                    ConsumerCompliance {
                        computer: if row.is_user {
                            String::new()
                        } else {
                            consumer.clone()
                        },
                        user: if row.is_user { consumer } else { String::new() },
                        application: name(customer_id, "applications", row.application_id),
                        requirement: row.requirement,
                        covered: row.covered,
                        status: status.into(),
                        no_requirement_reason: reason.into(),
                        licenses: row
                            .license_ids
                            .into_iter()
                            .map(|id| name(customer_id, "licenses", id))
                            .collect(),
                    }
                })
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_transfers(
        &self,
        request: Request<ListTransfersRequest>,
    ) -> Result<Response<ListTransfersResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let license = optional_reference("license", &message.license, customer_id, "licenses")?;
        let page = PageRequest::parse(message.page_size, "", "")?;
        let (client, run) = self.latest(&token, customer_id).await?;
        let Some(run) = run else {
            return Ok(Response::new(ListTransfersResponse::default()));
        };
        let tokens = RunTokens::new("transfers", run.id, &license);
        let after = tokens.after_position(&message.page_token)?;
        let mut rows = reports::transfers(
            &**client,
            customer_id,
            run.id,
            license,
            after,
            page.fetch_limit(),
        )
        .await?;
        let next_page_token = page.finish_with(&mut rows, |(position, _)| tokens.make(position));
        let transfers = rows
            .into_iter()
            .map(|(_, row)| Transfer {
                kind: match row.kind.as_str() {
                    "upgrade" => transfer::Kind::Upgrade,
                    "allocation" => transfer::Kind::Allocation,
                    _ => transfer::Kind::Downgrade,
                }
                .into(),
                license: name(customer_id, "licenses", row.license_id),
                base: optional_name(customer_id, "licenses", row.base_id),
                node: optional_name(customer_id, "nodes", row.node_id),
                from_application: optional_name(
                    customer_id,
                    "applications",
                    row.from_application_id,
                ),
                to_application: optional_name(customer_id, "applications", row.to_application_id),
                units: row.units,
            })
            .collect();
        Ok(Response::new(ListTransfersResponse {
            run: run_name(&run),
            transfers,
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn export_compliance_report(
        &self,
        request: Request<ExportComplianceReportRequest>,
    ) -> Result<Response<Self::ExportComplianceReportStream>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let report = match ComplianceReport::try_from(message.report) {
            Ok(ComplianceReport::Unspecified) | Err(_) => {
                return Err(ApiError::invalid("report", "name a ComplianceReport").into());
            }
            Ok(report) => report,
        };
        let columns = super::compliance_export::choose(report, &message.columns)?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        // Held while the export streams: its stored report is in memory.
        let admitted = self.0.exports.try_admit(&[Share {
            key: customer_id.to_string(),
            max: MAX_EXPORTS_PER_CUSTOMER,
            describes: format!("for customers/{customer_id}"),
        }])?;
        // The run and its results read in one snapshot: pruning older runs
        // meanwhile cannot leave the export half empty.
        let stored = {
            let mut client = estate_db::connection(&self.0.pool).await?;
            let snapshot = tokio_postgres::Client::build_transaction(&mut client)
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(estate_db::DbError::from)?;
            let run = store::latest(&snapshot, customer_id).await?;
            let stored =
                super::compliance_export::read(&snapshot, customer_id, run.as_ref(), report)
                    .await?;
            commit(snapshot).await?;
            stored
        };
        let (sender, receiver) = mpsc::channel(4);
        tokio::spawn(async move {
            let _admitted = admitted;
            if let Err(error) = super::compliance_export::export(stored, &columns, &sender).await {
                let _ = sender.send(Err(Status::from(error))).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_exclusion(
        &self,
        request: Request<CreateExclusionRequest>,
    ) -> Result<Response<ProtoExclusion>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            customer_id,
            "CreateExclusion",
            request_id,
            fingerprint(&CreateExclusionRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let exclusion = message.exclusion.unwrap_or_default();
        let mut violations = Violations::new();
        if exclusion.computer.is_empty() == exclusion.user.is_empty() {
            violations.add(
                "exclusion.computer",
                "name exactly one consumer: a computer or a user",
            );
        }
        violations.check_length("exclusion.reason", exclusion.reason.trim(), 1, 500);
        violations.finish()?;
        let computer = optional_reference(
            "exclusion.computer",
            &exclusion.computer,
            customer_id,
            "computers",
        )?;
        let user = optional_reference("exclusion.user", &exclusion.user, customer_id, "users")?;
        let application = optional_reference(
            "exclusion.application",
            &exclusion.application,
            customer_id,
            "applications",
        )?;
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        let draft = exclusions::Draft {
            computer_id: computer,
            user_id: user,
            application_id: application,
            reason: exclusion.reason.trim().to_string(),
        };
        let created = match exclusions::create(
            &transaction,
            customer_id,
            &draft,
            key.as_ref(),
            self.0.clock.now(),
        )
        .await
        {
            Ok(created) => created,
            Err(estate_db::DbError::ForeignKeyViolation) => {
                return Err(ApiError::FailedPrecondition {
                    violation: "NOT_IN_ESTATE",
                    subject: message.parent,
                    description: "the exclusion names a computer, user or application this \
                                  customer's estate does not have"
                        .into(),
                }
                .into());
            }
            Err(error) => return Err(error.into()),
        };
        commit(transaction).await?;
        Ok(Response::new(exclusion_to_proto(created)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_exclusions(
        &self,
        request: Request<ListExclusionsRequest>,
    ) -> Result<Response<ListExclusionsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let mut rows = exclusions::list(&**client, customer_id, &page).await?;
        let next_page_token = page.finish(&mut rows, |exclusion| exclusion.id);
        Ok(Response::new(ListExclusionsResponse {
            exclusions: rows.into_iter().map(exclusion_to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_exclusion(
        &self,
        request: Request<DeleteExclusionRequest>,
    ) -> Result<Response<DeleteExclusionResponse>, Status> {
        let token = token(&request)?;
        let exclusion_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &exclusion_name, "exclusions")?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        if !exclusions::delete(&**client, customer_id, id).await? {
            return Err(not_found("exclusion", exclusion_name).into());
        }
        Ok(Response::new(DeleteExclusionResponse {}))
    }
}

/// A consumer's status on the API, with the reason when nothing is
/// required.
fn consumer_status(status: estate_compliance::ConsumerStatus) -> (ConsumerStatus, &'static str) {
    use estate_compliance::{ConsumerStatus as Engine, NoRequirementReason as Reason};
    match status {
        Engine::Covered => (ConsumerStatus::Covered, ""),
        Engine::NotCovered => (ConsumerStatus::NotCovered, ""),
        Engine::NoRequirement(reason) => (
            ConsumerStatus::NoRequirement,
            match reason {
                Reason::NoLicenseRequired => "no_license_required",
                Reason::Inactive => "inactive",
                Reason::NotUsed => "not_used",
                Reason::Excluded => "excluded",
            },
        ),
    }
}

/// Page tokens of a list over one run's rows: the run and a fingerprint of
/// the filter, then where the page ended. A token of an older run or of
/// another filter is refused.
/// The `{id}:{position}` end of a token of a list of arrays' elements.
fn position_token(rest: &str) -> Result<(Uuid, i64), ApiError> {
    rest.split_once(':')
        .and_then(|(id, position)| Some((id.parse().ok()?, position.parse().ok()?)))
        .ok_or_else(RunTokens::refused)
}

struct RunTokens {
    prefix: String,
}

impl RunTokens {
    /// Tokens of `list` (its name) of `run` under `filter`: a token of
    /// another list, run or filter is refused.
    fn new(list: &str, run: Uuid, filter: &impl std::fmt::Debug) -> Self {
        let fingerprint = filter_fingerprint(&format!("{list} {filter:?}"));
        Self {
            prefix: format!("{run}:{fingerprint:x}:"),
        }
    }

    /// Where the previous page ended: `None` for the first page.
    fn after<'a>(&self, page_token: &'a str) -> Result<Option<&'a str>, ApiError> {
        if page_token.is_empty() {
            return Ok(None);
        }
        page_token
            .strip_prefix(&self.prefix)
            .map(Some)
            .ok_or_else(Self::refused)
    }

    /// Where the previous page of a list by position ended: -1 for the
    /// first page.
    fn after_position(&self, page_token: &str) -> Result<i64, ApiError> {
        match self.after(page_token)? {
            None => Ok(-1),
            Some(position) => position.parse().map_err(|_| Self::refused()),
        }
    }

    fn make(&self, end: impl std::fmt::Display) -> String {
        format!("{}{end}", self.prefix)
    }

    fn refused() -> ApiError {
        ApiError::invalid(
            "page_token",
            "is not a token of this list and filter for the latest run",
        )
    }
}
