-- Section 1 of the spec: relationship owners, people and roles, partner
-- access grants, entitlements, beacons, synchronization and the partner
-- overview read model.

ALTER TABLE organizations
    ADD COLUMN partner_type text CHECK (partner_type IN ('msp', 'reseller')),
    ADD COLUMN relationship_owner text CHECK (relationship_owner IN ('partner', 'customer')),
    ADD COLUMN data_region text NOT NULL DEFAULT 'default',
    -- Etags come from a revision counter, not the update time: two changes
    -- within one clock tick must still get different etags.
    ADD COLUMN revision bigint NOT NULL DEFAULT 1;

-- Deleting an organization takes its credentials with it.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_organization_id_fkey,
    ADD CONSTRAINT api_keys_organization_id_fkey FOREIGN KEY (organization_id)
        REFERENCES organizations (id) ON DELETE CASCADE;

-- One row per person; the email identifies them across organizations.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 320),
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 256),
    create_time   timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));

CREATE TABLE memberships (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id),
    role             text NOT NULL
        CHECK (role IN ('owner', 'admin', 'member', 'authorized_partner_user')),
    create_time      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Personal keys act as a user.
ALTER TABLE api_keys ADD COLUMN user_id uuid REFERENCES users (id);

-- A customer's grant of access to a partner. Managed customers hold a
-- `managed` continuous grant to the partner above them.
CREATE TABLE access_grants (
    customer_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    partner_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    mode         text NOT NULL CHECK (mode IN ('continuous', 'period', 'disabled')),
    start_time   timestamptz,
    end_time     timestamptz,
    managed      boolean NOT NULL,
    revision     bigint NOT NULL DEFAULT 1,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, partner_id),
    CHECK (mode <> 'period' OR (start_time IS NOT NULL AND end_time IS NOT NULL AND start_time < end_time)),
    CHECK (NOT managed OR mode = 'continuous')
);
CREATE INDEX access_grants_partner ON access_grants (partner_id, customer_id);

CREATE TABLE entitlements (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    capability       text NOT NULL,
    expire_time      timestamptz,
    update_time      timestamptz NOT NULL,
    PRIMARY KEY (organization_id, capability)
);

CREATE TABLE beacons (
    id                 uuid PRIMARY KEY,
    customer_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    display_name       text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 256),
    version            text NOT NULL CHECK (char_length(version) BETWEEN 1 AND 64),
    status             text NOT NULL CHECK (status IN ('ok', 'warning', 'error', 'disabled')),
    status_message     text NOT NULL DEFAULT '',
    last_contact_time  timestamptz NOT NULL,
    request_id         text,
    create_time        timestamptz NOT NULL
);
CREATE INDEX beacons_customer ON beacons (customer_id, id);
CREATE UNIQUE INDEX beacons_request_id_unique ON beacons (customer_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE sync_runs (
    id                   uuid PRIMARY KEY,
    customer_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    trigger              text NOT NULL CHECK (trigger IN ('schedule', 'on_demand')),
    state                text NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    create_time          timestamptz NOT NULL,
    start_time           timestamptz,
    end_time             timestamptz,
    error                text NOT NULL DEFAULT '',
    unavailable_sources  text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX sync_runs_customer ON sync_runs (customer_id, id);
CREATE INDEX sync_runs_queued ON sync_runs (create_time) WHERE state = 'queued';
-- At most one queued or running run per customer: "sync now" while one is
-- pending returns that one.
CREATE UNIQUE INDEX sync_runs_one_active ON sync_runs (customer_id)
    WHERE state IN ('queued', 'running');

-- What a successful run gathered. A NULL group was unavailable at its
-- source.
CREATE TABLE sync_snapshots (
    run_id          uuid PRIMARY KEY REFERENCES sync_runs (id) ON DELETE CASCADE,
    customer_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    taken_time      timestamptz NOT NULL,
    computers       jsonb,
    applications    jsonb,
    saas            jsonb,
    license_usage   jsonb
);
CREATE INDEX sync_snapshots_customer ON sync_snapshots (customer_id, taken_time);

-- The partner overview read model: one row per (partner, customer) grant,
-- derived from grants, runs, snapshots, entitlements and beacons whenever
-- one of them changes, and again at `next_change_time`, the first instant
-- at which the passage of time alone changes the row (a period ends, a
-- pending sync turns overdue, an expiry crosses 30 or 60 days).
CREATE TABLE overview_rows (
    partner_id                uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    customer_id               uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Byte order ("C"): the same sort on every server, whatever its locale.
    display_name              text COLLATE "C" NOT NULL,
    external_id               text COLLATE "C" NOT NULL,
    status                    smallint NOT NULL,
    sync_pending_overdue      boolean NOT NULL,
    beacon_count              bigint NOT NULL,
    upcoming_expiration_kind  smallint NOT NULL,
    upcoming_expiration_time  timestamptz,
    expiration_status         smallint NOT NULL,
    last_successful_sync_time timestamptz,
    computers_total           bigint,
    applications_total        bigint,
    -- The metric groups, already reduced to what the status and the
    -- entitlements allow the partner to see.
    metrics                   jsonb NOT NULL,
    next_change_time          timestamptz,
    PRIMARY KEY (partner_id, customer_id)
);
CREATE INDEX overview_rows_customer ON overview_rows (customer_id);
CREATE INDEX overview_rows_due ON overview_rows (next_change_time) WHERE next_change_time IS NOT NULL;
CREATE INDEX overview_rows_partner_due ON overview_rows (partner_id, next_change_time)
    WHERE next_change_time IS NOT NULL;
-- One index per sort column, so a page costs the same at any partner size.
CREATE INDEX overview_rows_by_name ON overview_rows (partner_id, display_name, customer_id);
CREATE INDEX overview_rows_by_external_id ON overview_rows (partner_id, external_id, customer_id);
CREATE INDEX overview_rows_by_status ON overview_rows (partner_id, status, customer_id);
CREATE INDEX overview_rows_by_beacons ON overview_rows (partner_id, beacon_count, customer_id);
CREATE INDEX overview_rows_by_upcoming ON overview_rows
    (partner_id, (coalesce(upcoming_expiration_time, 'infinity')), customer_id);
CREATE INDEX overview_rows_by_expiration_status ON overview_rows (partner_id, expiration_status, customer_id);
CREATE INDEX overview_rows_by_computers ON overview_rows (partner_id, (coalesce(computers_total, -1)), customer_id);
CREATE INDEX overview_rows_by_applications ON overview_rows (partner_id, (coalesce(applications_total, -1)), customer_id);
CREATE INDEX overview_rows_by_last_sync ON overview_rows
    (partner_id, (coalesce(last_successful_sync_time, '-infinity')), customer_id);

-- Customers a partner user pinned to the top of their overview.
CREATE TABLE favorites (
    subject      text NOT NULL,
    partner_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    customer_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (subject, partner_id, customer_id)
);
