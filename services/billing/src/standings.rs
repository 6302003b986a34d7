//! Partner standings delivered to the customers service: a partner's
//! status decides what its users may do there, so every change is sent
//! (by the handler that made it, and retried by the worker until the
//! customers service confirms it).

use estate_auth::{CallerToken, Principal};
use estate_errors::ApiError;
use estate_proto::internal::PartnerStanding;

use crate::AppState;
use crate::db::partners::{StandingDue, standing_delivered, standings_due};
use crate::rules::statuses::PartnerState;

/// Tells the customers service a partner's status (its standing there),
/// signed with `service` (billing's own token), and records the
/// confirmation on `client`.
pub async fn deliver_standing(
    state: &AppState,
    client: &impl tokio_postgres::GenericClient,
    service: &CallerToken,
    due: &StandingDue,
) -> Result<(), ApiError> {
    let standing = match due.status {
        PartnerState::Active => PartnerStanding::Active,
        PartnerState::Suspended => PartnerStanding::Suspended,
        PartnerState::Canceled => PartnerStanding::Canceled,
    };
    state
        .access
        .set_partner_standing(service, &due.id.to_string(), standing, due.revision)
        .await?;
    standing_delivered(client, due.id, due.revision).await?;
    Ok(())
}

/// Billing's own token, for calls made on nobody's behalf.
pub fn service_token(state: &AppState) -> CallerToken {
    CallerToken(state.signer.sign(&Principal::service("billing")))
}

/// Delivers every status change the customers service has not confirmed;
/// how many were delivered. One partner that fails is logged and left for
/// the next round; it does not hold up the others.
pub async fn deliver_standings(state: &AppState) -> Result<usize, ApiError> {
    let client = estate_db::connection(&state.pool).await?;
    let due = standings_due(&**client, 100).await?;
    let service = service_token(state);
    let mut delivered = 0;
    for partner in &due {
        match deliver_standing(state, &**client, &service, partner).await {
            Ok(()) => delivered += 1,
            Err(error) => {
                tracing::warn!(partner = %partner.id, %error, "partner standing not delivered; retrying")
            }
        }
    }
    Ok(delivered)
}
