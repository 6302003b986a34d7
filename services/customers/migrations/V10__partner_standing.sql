-- A partner's standing with its distributor, as the billing service last
-- told it: active, suspended (read-only) or canceled (access revoked, for
-- good). Billing owns the status; this copy is what every access decision
-- reads. `standing_revision` is billing's revision of the partner when it
-- changed, so a late or repeated delivery never undoes a newer one.
ALTER TABLE organizations
    ADD COLUMN standing text NOT NULL DEFAULT 'active'
        CHECK (standing IN ('active', 'suspended', 'canceled')),
    ADD COLUMN standing_revision bigint NOT NULL DEFAULT 0;
