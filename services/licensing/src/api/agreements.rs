//! `estate.licensing.v1.AgreementsService`.

use estate_auth::Access;
use estate_db::{Created, DbError, RequestKey, SortedPage, commit, transaction};
use estate_errors::{ApiError, Violations};
use estate_proto::fields::{check_etag, fingerprint, request_id, revision_etag};
use estate_proto::licensing::agreements_service_server::AgreementsService;
use estate_proto::licensing::{
    Agreement as ProtoAgreement, AgreementKind, CreateAgreementRequest, DeleteAgreementRequest,
    DeleteAgreementResponse, GetAgreementRequest, ListAgreementsRequest, ListAgreementsResponse,
    Period, UpdateAgreementRequest,
};
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Agreements, child_name, customer_id, date_string, mask_paths, name, not_found, optional_date,
    token,
};
use crate::db::agreements::{self, Agreement};

const KINDS: &[(AgreementKind, &str)] = &[
    (AgreementKind::Software, "software"),
    (AgreementKind::Maintenance, "maintenance"),
    (AgreementKind::Support, "support"),
    (AgreementKind::Purchase, "purchase"),
    (AgreementKind::Custom, "custom"),
];

fn to_proto(agreement: Agreement) -> ProtoAgreement {
    let kind = KINDS
        .iter()
        .find(|(_, column)| *column == agreement.kind)
        .map_or(AgreementKind::Unspecified, |(kind, _)| *kind);
    ProtoAgreement {
        name: name(agreement.customer_id, "agreements", agreement.id),
        display_name: agreement.display_name,
        kind: kind.into(),
        custom_kind: agreement.custom_kind,
        period: agreement.period.map(|(start, end)| Period {
            start_date: date_string(Some(start)),
            end_date: date_string(Some(end)),
        }),
        subscription: agreement.subscription,
        offer_outside_period: agreement.offer_outside_period,
        archived: agreement.archived,
        license_count: agreement.license_count,
        create_time: Some(to_timestamp(agreement.create_time)),
        update_time: Some(to_timestamp(agreement.update_time)),
        etag: revision_etag(agreement.revision),
    }
}

/// The period in `field`, checked.
fn period(
    violations: &mut Violations,
    field: &str,
    period: Option<&Period>,
) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let period = period?;
    let start = optional_date(
        violations,
        &format!("{field}.start_date"),
        &period.start_date,
    );
    let end = optional_date(violations, &format!("{field}.end_date"), &period.end_date);
    match (start, end) {
        (Some(start), Some(end)) if start <= end => Some((start, end)),
        (Some(_), Some(_)) => {
            violations.add(format!("{field}.end_date"), "must not be before start_date");
            None
        }
        _ => {
            violations.add(field, "needs both start_date and end_date");
            None
        }
    }
}

/// Checks the rules that tie an agreement's fields together.
fn check(violations: &mut Violations, agreement: &Agreement) {
    violations.check_length("agreement.display_name", &agreement.display_name, 1, 200);
    if agreement.kind == "custom" {
        violations.check_length("agreement.custom_kind", &agreement.custom_kind, 1, 100);
    } else if !agreement.custom_kind.is_empty() {
        violations.add("agreement.custom_kind", "is only for AGREEMENT_KIND_CUSTOM");
    }
    if agreement.subscription && agreement.period.is_none() {
        violations.add(
            "agreement.period",
            "is required for a subscription agreement: its period overrides its licenses'",
        );
    }
}

#[tonic::async_trait]
impl AgreementsService for Agreements {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_agreement(
        &self,
        request: Request<CreateAgreementRequest>,
    ) -> Result<Response<ProtoAgreement>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?;
        let key = RequestKey::of(
            customer_id,
            "CreateAgreement",
            request_id,
            fingerprint(&CreateAgreementRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let Some(input) = message.agreement else {
            return Err(ApiError::invalid("agreement", "is required").into());
        };
        let mut violations = Violations::new();
        let kind = KINDS
            .iter()
            .find(|(kind, _)| i32::from(*kind) == input.kind)
            .map(|(_, column)| *column);
        if kind.is_none() {
            violations.add("agreement.kind", "must be one of the AgreementKind values");
        }
        let now = self.0.clock.now();
        let agreement = Agreement {
            customer_id,
            id: Uuid::now_v7(),
            display_name: input.display_name,
            kind: kind.unwrap_or("software").to_string(),
            custom_kind: input.custom_kind,
            period: period(&mut violations, "agreement.period", input.period.as_ref()),
            subscription: input.subscription,
            offer_outside_period: input.offer_outside_period,
            archived: false,
            license_count: 0,
            revision: 1,
            create_time: now,
            update_time: now,
        };
        check(&mut violations, &agreement);
        violations.finish()?;
        self.0
            .authorize(&token, customer_id, Access::Write, "parent")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        let agreement = &agreement;
        let outcome = {
            let client = &transaction;
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { agreements::get(client, customer_id, id).await },
                || async move {
                    agreements::save(client, agreement, request_id, now).await?;
                    agreements::get(client, customer_id, agreement.id)
                        .await?
                        .ok_or(DbError::Conflict)
                },
                |agreement| agreement.id,
            )
            .await?
        };
        commit(transaction).await?;
        Ok(Response::new(to_proto(Created::into_inner(outcome))))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_agreement(
        &self,
        request: Request<GetAgreementRequest>,
    ) -> Result<Response<ProtoAgreement>, Status> {
        let token = token(&request)?;
        let agreement_name = request.into_inner().name;
        let (customer_id, id) = child_name("name", &agreement_name, "agreements")?;
        self.0
            .authorize(&token, customer_id, Access::Read, "name")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let agreement = agreements::get(&**client, customer_id, id)
            .await?
            .ok_or_else(|| not_found("agreement", agreement_name))?;
        Ok(Response::new(to_proto(agreement)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_agreements(
        &self,
        request: Request<ListAgreementsRequest>,
    ) -> Result<Response<ListAgreementsResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let customer_id = customer_id("parent", &message.parent)?;
        let mut violations = Violations::new();
        let offered_for = optional_date(
            &mut violations,
            "offered_for_purchase_date",
            &message.offered_for_purchase_date,
        );
        violations.finish()?;
        let page = SortedPage::parse(
            &message.order_by,
            agreements::SORT_COLUMNS,
            message.page_size,
            &message.page_token,
            &message.parent,
            &format!("{offered_for:?} {}", message.include_archived),
        )?;
        self.0
            .authorize(&token, customer_id, Access::Read, "parent")
            .await?;
        let client = estate_db::connection(&self.0.pool).await?;
        let (rows, next_page_token) = agreements::list(
            &**client,
            customer_id,
            offered_for,
            message.include_archived,
            &page,
        )
        .await?;
        Ok(Response::new(ListAgreementsResponse {
            agreements: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_agreement(
        &self,
        request: Request<UpdateAgreementRequest>,
    ) -> Result<Response<ProtoAgreement>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let Some(update) = message.agreement else {
            return Err(ApiError::invalid("agreement", "is required").into());
        };
        let (customer_id, id) = child_name("agreement.name", &update.name, "agreements")?;
        let paths = mask_paths(
            message.update_mask,
            &[
                "display_name",
                "period",
                "subscription",
                "offer_outside_period",
                "custom_kind",
            ],
        )?;
        let changes = |path: &str| paths.iter().any(|changed| changed == path);
        self.0
            .authorize(&token, customer_id, Access::Write, "agreement.name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let now = self.0.clock.now();
        let transaction = transaction(&mut client).await?;
        let mut agreement = agreements::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("agreement", update.name.clone()))?;
        check_etag(&update.etag, agreement.revision, update.name.clone())?;
        let mut violations = Violations::new();
        if changes("display_name") {
            agreement.display_name = update.display_name;
        }
        if changes("period") {
            agreement.period = period(&mut violations, "agreement.period", update.period.as_ref());
        }
        if changes("subscription") {
            agreement.subscription = update.subscription;
        }
        if changes("offer_outside_period") {
            agreement.offer_outside_period = update.offer_outside_period;
        }
        if changes("custom_kind") {
            agreement.custom_kind = update.custom_kind;
        }
        check(&mut violations, &agreement);
        violations.finish()?;
        agreements::save(&transaction, &agreement, None, now).await?;
        let stored = agreements::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("agreement", update.name.clone()))?;
        commit(transaction).await?;
        Ok(Response::new(to_proto(stored)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_agreement(
        &self,
        request: Request<DeleteAgreementRequest>,
    ) -> Result<Response<DeleteAgreementResponse>, Status> {
        let token = token(&request)?;
        let message = request.into_inner();
        let (customer_id, id) = child_name("name", &message.name, "agreements")?;
        self.0
            .authorize(&token, customer_id, Access::Write, "name")
            .await?;
        let mut client = estate_db::connection(&self.0.pool).await?;
        let transaction = transaction(&mut client).await?;
        let agreement = agreements::get(&transaction, customer_id, id)
            .await?
            .ok_or_else(|| not_found("agreement", message.name.clone()))?;
        check_etag(&message.etag, agreement.revision, message.name.clone())?;
        agreements::delete(&transaction, customer_id, id).await?;
        commit(transaction).await?;
        Ok(Response::new(DeleteAgreementResponse {}))
    }
}
