//! `estate.customers.v1.BeaconsService`: inventory collectors.

use estate_db::{Created, PageRequest, RequestKey};
use estate_errors::{ApiError, Violations};
use estate_proto::customers::beacons_service_server::BeaconsService;
use estate_proto::customers::{
    Beacon as ProtoBeacon, BeaconStatus, ListBeaconsRequest, ListBeaconsResponse,
    RecordBeaconHeartbeatRequest, RegisterBeaconRequest,
};
use estate_proto::fields::fingerprint;
use estate_proto::time::to_timestamp;
use tonic::{Request, Response, Status};

use super::{
    Beacons, caller, commit, existing_organization, organization_id, parse_name, request_id,
    transaction,
};
use crate::access;
use crate::db::beacons::{self as store, Beacon};
use crate::db::organizations::Kind;
use crate::db::overview;

pub(crate) fn to_proto(beacon: Beacon) -> ProtoBeacon {
    let status = match beacon.status.as_str() {
        "ok" => BeaconStatus::Ok,
        "warning" => BeaconStatus::Warning,
        "error" => BeaconStatus::Error,
        "disabled" => BeaconStatus::Disabled,
        _ => BeaconStatus::Unspecified,
    };
    ProtoBeacon {
        name: format!("organizations/{}/beacons/{}", beacon.customer_id, beacon.id),
        display_name: beacon.display_name,
        version: beacon.version,
        status: status.into(),
        status_message: beacon.status_message,
        last_contact_time: Some(to_timestamp(beacon.last_contact_time)),
        create_time: Some(to_timestamp(beacon.create_time)),
    }
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
        violations.finish()?;

        let now = self.0.clock.now();
        let mut client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, customer, true, now).await?;
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
                |id| async move { store::get(client, customer, id).await },
                || store::insert(client, customer, name, version, request_id.as_deref(), now),
                |beacon| beacon.id,
            )
            .await?
        };
        let registered = match outcome {
            Created::Replayed(existing) => return Ok(Response::new(to_proto(existing))),
            Created::New(registered) => registered,
        };
        overview::refresh(&transaction, &[customer], now).await?;
        commit(transaction).await?;
        tracing::info!(beacon = %registered.id, %customer, "beacon registered");
        Ok(Response::new(to_proto(registered)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn record_beacon_heartbeat(
        &self,
        request: Request<RecordBeaconHeartbeatRequest>,
    ) -> Result<Response<ProtoBeacon>, Status> {
        let principal = caller(&request)?;
        let message = request.into_inner();
        let ids = parse_name("name", &message.name, &["organizations", "beacons"])?;
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
        let client = estate_db::connection(&self.0.pool).await?;
        access::require(&**client, &principal, ids[0], true, now).await?;
        let beacon = store::heartbeat(
            &**client,
            ids[0],
            ids[1],
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
        Ok(Response::new(to_proto(beacon)))
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
        access::require(&**client, &principal, customer, false, self.0.clock.now()).await?;
        let mut rows = store::list(&**client, customer, &page).await?;
        let next_page_token = page.finish(&mut rows, |row| row.id);
        Ok(Response::new(ListBeaconsResponse {
            beacons: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
