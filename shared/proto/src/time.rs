//! Conversions between protobuf timestamps and `chrono` instants.

use chrono::{DateTime, Utc};

/// A protobuf timestamp for `instant`.
pub fn to_timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The instant a protobuf timestamp denotes; `None` when out of range.
pub fn from_timestamp(timestamp: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

/// An etag (AIP-154) derived from a resource's last update time.
pub fn etag(update_time: DateTime<Utc>) -> String {
    format!("W/\"{:x}\"", update_time.timestamp_micros())
}
