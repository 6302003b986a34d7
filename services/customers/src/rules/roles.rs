//! No one hands out more than they hold: the order of roles, and the rule
//! that a caller may grant, change, remove or act through only roles at
//! or below its own.
//!
//! Roles rank owner > admin > authorized partner user > member. A
//! caller's rank is that of the highest role it holds in its own
//! organization; platform administrators and the platform's services
//! outrank every role. The rule applies wherever the caller acts, in its
//! own organization or in a customer it reaches through a grant: a
//! partner's authorized user may add members to a managed customer, not
//! owners.

use estate_auth::Principal;
use estate_errors::ApiError;

/// The rank of `role`; unknown roles rank lowest.
pub fn rank(role: &str) -> u8 {
    match role {
        "owner" => 4,
        "admin" => 3,
        "authorized_partner_user" => 2,
        "member" => 1,
        _ => 0,
    }
}

/// The caller's rank: its highest role, or above every role for platform
/// administrators and services.
pub fn caller_rank(principal: &Principal) -> u8 {
    if principal.is_platform_admin() || principal.is_service() {
        return u8::MAX;
    }
    principal
        .roles
        .iter()
        .map(|role| rank(role))
        .max()
        .unwrap_or(0)
}

/// Whether `principal` may hand out (or change, remove, act through)
/// `role`.
pub fn may_handle(principal: &Principal, role: &str) -> bool {
    rank(role) <= caller_rank(principal)
}

/// The highest role the caller holds, for recording the ceiling of a key
/// it makes; `None` when nothing bounds it (administrators, services).
pub fn ceiling(principal: &Principal) -> Option<&'static str> {
    match caller_rank(principal) {
        u8::MAX => None,
        4 => Some("owner"),
        3 => Some("admin"),
        2 => Some("authorized_partner_user"),
        _ => Some("member"),
    }
}

/// The role a personal key acts with: its member's role, but never above
/// the ceiling of whoever made the key.
pub fn personal_key_role(member_role: &str, ceiling: Option<&str>) -> String {
    match ceiling {
        Some(ceiling) if rank(member_role) > rank(ceiling) => ceiling.to_owned(),
        _ => member_role.to_owned(),
    }
}

/// PERMISSION_DENIED unless `principal` may `action` (e.g. "grant") the
/// `role`.
pub fn require(principal: &Principal, role: &str, action: &str) -> Result<(), ApiError> {
    if may_handle(principal, role) {
        return Ok(());
    }
    let held = ceiling(principal).unwrap_or("none");
    Err(ApiError::PermissionDenied(format!(
        "a caller whose highest role is {held} cannot {action} the {role} role: \
         no one hands out more than they hold"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLES: [&str; 4] = ["owner", "admin", "authorized_partner_user", "member"];

    fn caller(roles: &[&str]) -> Principal {
        Principal {
            subject: "apiKeys/test".into(),
            organization_id: Some(uuid::Uuid::nil().to_string()),
            organization_kind: 0,
            roles: roles.iter().map(|role| role.to_string()).collect(),
        }
    }

    #[test]
    fn every_role_pair_follows_the_order() {
        // (caller's role, role handled, allowed)
        let expected = [
            ("owner", "owner", true),
            ("owner", "admin", true),
            ("owner", "authorized_partner_user", true),
            ("owner", "member", true),
            ("admin", "owner", false),
            ("admin", "admin", true),
            ("admin", "authorized_partner_user", true),
            ("admin", "member", true),
            ("authorized_partner_user", "owner", false),
            ("authorized_partner_user", "admin", false),
            ("authorized_partner_user", "authorized_partner_user", true),
            ("authorized_partner_user", "member", true),
            ("member", "owner", false),
            ("member", "admin", false),
            ("member", "authorized_partner_user", false),
            ("member", "member", true),
        ];
        assert_eq!(expected.len(), ROLES.len() * ROLES.len());
        for (held, handled, allowed) in expected {
            assert_eq!(
                may_handle(&caller(&[held]), handled),
                allowed,
                "{held} handling {handled}"
            );
            assert_eq!(require(&caller(&[held]), handled, "grant").is_ok(), allowed);
        }
    }

    #[test]
    fn the_highest_role_held_counts_and_administrators_outrank_all() {
        assert!(may_handle(&caller(&["member", "admin"]), "admin"));
        assert!(!may_handle(&caller(&[]), "member"));
        let admin = caller(&[estate_auth::ROLE_PLATFORM_ADMIN]);
        assert!(ROLES.iter().all(|role| may_handle(&admin, role)));
        assert_eq!(ceiling(&admin), None);
        assert!(may_handle(&Principal::service("billing"), "owner"));
    }

    #[test]
    fn a_personal_key_never_acts_above_its_makers_ceiling() {
        assert_eq!(personal_key_role("owner", Some("admin")), "admin");
        assert_eq!(personal_key_role("member", Some("admin")), "member");
        assert_eq!(personal_key_role("owner", None), "owner");
        assert_eq!(personal_key_role("admin", Some("admin")), "admin");
    }
}
