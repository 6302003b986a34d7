//! `estate.customers.v1.BeaconsService`: inventory collectors.

use estate_db::{Created, PageRequest, RequestKey};
use estate_errors::{ApiError, Violations};
use estate_proto::customers::beacons_service_server::BeaconsService;
use estate_proto::customers::{
    Beacon as ProtoBeacon, BeaconHealth, BeaconStatus, DeleteBeaconRequest, DeleteBeaconResponse,
    ListBeaconsRequest, ListBeaconsResponse, RecordBeaconHeartbeatRequest, RegisterBeaconRequest,
};
use estate_proto::fields::fingerprint;
use estate_proto::names::BeaconName;
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::{
    Beacons, caller, commit, existing_organization, organization_id, request_id, transaction,
};
use crate::access::{self, Access};
use crate::db;
use crate::db::beacons::Beacon;
use crate::db::organizations::Kind;
use crate::db::overview;
use crate::rules::beacons::{self, Health};

pub(crate) fn to_proto(beacon: Beacon, now: chrono::DateTime<chrono::Utc>) -> ProtoBeacon {
    let health = match beacons::health(&beacon.facts(), now) {
        Health::Ok => BeaconHealth::Ok,
        Health::Problem => BeaconHealth::Problem,
        Health::Silent => BeaconHealth::Silent,
        Health::Disabled => BeaconHealth::Disabled,
    };
    let silent_after = prost_types::Duration {
        seconds: beacon.silent_after.num_seconds(),
        nanos: 0,
    };
    let status = match beacon.status.as_str() {
        "ok" => BeaconStatus::Ok,
        "warning" => BeaconStatus::Warning,
        "error" => BeaconStatus::Error,
        "disabled" => BeaconStatus::Disabled,
        _ => BeaconStatus::Unspecified,
    };
    ProtoBeacon {
        name: BeaconName {
            customer: beacon.customer_id,
            beacon: beacon.id,
        }
        .to_string(),
        display_name: beacon.display_name,
        version: beacon.version,
        status: status.into(),
        status_message: beacon.status_message,
        last_contact_time: Some(to_timestamp(beacon.last_contact_time)),
        create_time: Some(to_timestamp(beacon.create_time)),
        silent_after: Some(silent_after),
        health: health.into(),
    }
}

/// The silence threshold a registration asks for, checked.
fn silent_after(
    violations: &mut Violations,
    requested: Option<&prost_types::Duration>,
) -> chrono::Duration {
    let Some(requested) = requested else {
        return beacons::DEFAULT_SILENT_AFTER;
    };
    let asked = chrono::Duration::seconds(requested.seconds);
    if requested.nanos != 0
        || asked < beacons::MIN_SILENT_AFTER
        || asked > beacons::MAX_SILENT_AFTER
    {
        violations.add(
            "beacon.silent_after",
            "must be whole seconds between 5 minutes and 30 days",
        );
        return beacons::DEFAULT_SILENT_AFTER;
    }
    asked
}

#[tonic::async_trait]
impl BeaconsService for Beacons {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn register_beacon(
        &self,
        request: Request<RegisterBeaconRequest>,
    ) -> Result<Response<ProtoBeacon>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let customer = organization_id("parent", &message.parent)?;
        let request_id = request_id(&message.request_id)?.map(str::to_owned);
        let key = RequestKey::of(
            customer,
            "RegisterBeacon",
            request_id.as_deref(),
            fingerprint(&RegisterBeaconRequest {
                request_id: String::new(),
                ..message.clone()
            }),
        );
        let Some(beacon) = message.beacon else {
            return Err(ApiError::invalid("beacon", "is required").into());
        };
        let mut violations = Violations::new();
        violations.check_length("beacon.display_name", &beacon.display_name, 1, 256);
        violations.check_length("beacon.version", &beacon.version, 1, 64);
        let silent_after = silent_after(&mut violations, beacon.silent_after.as_ref());
        violations.finish()?;

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, customer, Access::Write, now).await?;
        if existing_organization(&**client, customer).await?.kind != Kind::Customer {
            return Err(ApiError::invalid("parent", "beacons belong to customers").into());
        }
        let transaction = transaction(&mut client).await?;
        let outcome = {
            let client: &tokio_postgres::Transaction<'_> = &transaction;
            let (name, version) = (&beacon.display_name, &beacon.version);
            estate_db::create_once(
                client,
                key.as_ref(),
                now,
                |id| async move { db::beacons::get(client, customer, id).await },
                || {
                    db::beacons::insert(
                        client,
                        customer,
                        name,
                        version,
                        silent_after,
                        request_id.as_deref(),
                        now,
                    )
                },
                |beacon| beacon.id,
            )
            .await?
        };
        let registered = match outcome {
            Created::Replayed(existing) => return Ok(Response::new(to_proto(existing, now))),
            Created::New(registered) => registered,
        };
        overview::refresh(&transaction, &[customer], now).await?;
        commit(transaction).await?;
        tracing::info!(beacon = %registered.id, %customer, "beacon registered");
        Ok(Response::new(to_proto(registered, now)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn record_beacon_heartbeat(
        &self,
        request: Request<RecordBeaconHeartbeatRequest>,
    ) -> Result<Response<ProtoBeacon>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let target = BeaconName::parse("name", &message.name)?;
        let status = match BeaconStatus::try_from(message.status)
            .unwrap_or(BeaconStatus::Unspecified)
        {
            BeaconStatus::Ok => "ok",
            BeaconStatus::Warning => "warning",
            BeaconStatus::Error => "error",
            BeaconStatus::Disabled => "disabled",
            BeaconStatus::Unspecified => {
                return Err(
                    ApiError::invalid("status", "must be OK, WARNING, ERROR or DISABLED").into(),
                );
            }
        };
        let mut violations = Violations::new();
        violations.check_length("version", &message.version, 0, 64);
        violations.check_length("status_message", &message.status_message, 0, 1024);
        violations.finish()?;
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, target.customer, Access::Write, now).await?;
        let transaction = transaction(&mut client).await?;
        let before = db::beacons::get(&transaction, target.customer, target.beacon).await?;
        let beacon = db::beacons::heartbeat(
            &transaction,
            target.customer,
            target.beacon,
            status,
            &message.version,
            &message.status_message,
            now,
        )
        .await?
        .ok_or(ApiError::NotFound {
            resource_type: "beacon",
            name: message.name,
        })?;
        // The overview follows a beacon's health, not every heartbeat:
        // it is derived again only when the health changed.
        let was = before.map(|before| beacons::health(&before.facts(), now));
        if was != Some(beacons::health(&beacon.facts(), now)) {
            overview::refresh(&transaction, &[target.customer], now).await?;
        }
        commit(transaction).await?;
        Ok(Response::new(to_proto(beacon, now)))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_beacons(
        &self,
        request: Request<ListBeaconsRequest>,
    ) -> Result<Response<ListBeaconsResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let customer = organization_id("parent", &message.parent)?;
        let page = PageRequest::parse(message.page_size, &message.page_token, &message.parent)?;
        let client = estate_db::connection(&self.0.pool).await?;
        access::require(
            &**client,
            &principal,
            customer,
            Access::Read,
            self.0.clock.now(),
        )
        .await?;
        let mut rows = db::beacons::list(&**client, customer, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| row.id.uuid());
        Ok(Response::new(ListBeaconsResponse {
            beacons: rows
                .into_iter()
                .map(|row| to_proto(row, self.0.clock.now()))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_beacon(
        &self,
        request: Request<DeleteBeaconRequest>,
    ) -> Result<Response<DeleteBeaconResponse>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let target = BeaconName::parse("name", &message.name)?;
        if !(principal.is_platform_admin() || principal.has_role("owner")) {
            return Err(
                ApiError::PermissionDenied("only owners deregister a beacon".into()).into(),
            );
        }
        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, target.customer, Access::Write, now).await?;
        let transaction = transaction(&mut client).await?;
        if !db::beacons::delete(&transaction, target.customer, target.beacon).await? {
            return Err(ApiError::NotFound {
                resource_type: "beacon",
                name: message.name,
            }
            .into());
        }
        overview::refresh(&transaction, &[target.customer], now).await?;
        commit(transaction).await?;
        tracing::info!(beacon = %target.beacon, customer = %target.customer, "beacon deregistered");
        Ok(Response::new(DeleteBeaconResponse {}))
    }
}
