//! The storage edge of the statuses and types billing keeps as text
//! (`rules::statuses`): each reads from and binds to a `text` column (or
//! a `text[]` parameter) as its stored name, so queries never see a
//! status as a loose string. A name the enum does not know (which the
//! schema's CHECK constraints rule out) is a conversion error, not a
//! default.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::rules::statuses::{
    BillingStatus, LicenseKind, LicenseStatus, PartnerKind, PartnerState, Stored, UsageStatus,
};

macro_rules! stored_as_text {
    ($($name:ident),+) => {$(
        impl<'a> FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
                let column = <&str as FromSql>::from_sql(ty, raw)?;
                <$name as Stored>::from_column(column).ok_or_else(|| {
                    format!(concat!("{:?} is not a stored ", stringify!($name)), column).into()
                })
            }

            fn accepts(ty: &Type) -> bool {
                <&str as FromSql>::accepts(ty)
            }
        }

        impl ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                self.column().to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }
    )+};
}

stored_as_text!(
    PartnerState,
    PartnerKind,
    LicenseKind,
    LicenseStatus,
    UsageStatus,
    BillingStatus
);
