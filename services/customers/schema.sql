-- The customers schema as its migrations leave it, for reading (tables
-- in name order, not runnable as is). Generated from the catalog; a
-- test checks it against a fresh migrate.

CREATE TABLE access_grants (
    customer_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    mode text NOT NULL,
    start_time timestamp with time zone,
    end_time timestamp with time zone,
    managed boolean NOT NULL,
    revision bigint NOT NULL DEFAULT 1,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT access_grants_check CHECK (((mode <> 'period'::text) OR ((start_time IS NOT NULL) AND (end_time IS NOT NULL) AND (start_time < end_time)))),
    CONSTRAINT access_grants_check1 CHECK (((NOT managed) OR (mode = 'continuous'::text))),
    CONSTRAINT access_grants_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT access_grants_mode_check CHECK ((mode = ANY (ARRAY['continuous'::text, 'period'::text, 'disabled'::text]))),
    CONSTRAINT access_grants_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT access_grants_pkey PRIMARY KEY (customer_id, partner_id)
);
CREATE INDEX access_grants_partner ON customers.access_grants USING btree (partner_id, customer_id);

CREATE TABLE api_keys (
    id uuid NOT NULL,
    organization_id uuid,
    display_name text NOT NULL,
    key_prefix text NOT NULL,
    key_hash bytea NOT NULL,
    roles text[] NOT NULL,
    request_id text,
    create_time timestamp with time zone NOT NULL,
    last_use_time timestamp with time zone,
    revoke_time timestamp with time zone,
    user_id uuid,
    role_ceiling text,
    CONSTRAINT api_keys_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 256))),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES customers.users(id)
);
CREATE INDEX api_keys_organization ON customers.api_keys USING btree (organization_id, id);
CREATE UNIQUE INDEX api_keys_request_id_unique ON customers.api_keys USING btree (COALESCE(organization_id, '00000000-0000-0000-0000-000000000000'::uuid), request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE beacons (
    id uuid NOT NULL,
    customer_id uuid NOT NULL,
    display_name text NOT NULL,
    version text NOT NULL,
    status text NOT NULL,
    status_message text NOT NULL DEFAULT ''::text,
    last_contact_time timestamp with time zone NOT NULL,
    request_id text,
    create_time timestamp with time zone NOT NULL,
    silent_after_seconds integer NOT NULL DEFAULT 86400,
    CONSTRAINT beacons_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT beacons_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 256))),
    CONSTRAINT beacons_pkey PRIMARY KEY (id),
    CONSTRAINT beacons_silent_after_seconds_check CHECK (((silent_after_seconds >= 300) AND (silent_after_seconds <= 2592000))),
    CONSTRAINT beacons_status_check CHECK ((status = ANY (ARRAY['ok'::text, 'warning'::text, 'error'::text, 'disabled'::text]))),
    CONSTRAINT beacons_version_check CHECK (((char_length(version) >= 1) AND (char_length(version) <= 64)))
);
CREATE INDEX beacons_customer ON customers.beacons USING btree (customer_id, id);
CREATE UNIQUE INDEX beacons_request_id_unique ON customers.beacons USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE entitlements (
    organization_id uuid NOT NULL,
    capability text NOT NULL,
    expire_time timestamp with time zone,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT entitlements_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT entitlements_pkey PRIMARY KEY (organization_id, capability)
);

CREATE TABLE favorites (
    subject text NOT NULL,
    partner_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    CONSTRAINT favorites_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT favorites_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT favorites_pkey PRIMARY KEY (subject, partner_id, customer_id)
);

CREATE TABLE idempotency_keys (
    scope uuid NOT NULL,
    method text NOT NULL,
    request_id text NOT NULL,
    fingerprint bytea,
    resource_id uuid,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, method, request_id)
);

CREATE TABLE memberships (
    organization_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT memberships_organization_id_fkey FOREIGN KEY (organization_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT memberships_pkey PRIMARY KEY (organization_id, user_id),
    CONSTRAINT memberships_role_check CHECK ((role = ANY (ARRAY['owner'::text, 'admin'::text, 'member'::text, 'authorized_partner_user'::text]))),
    CONSTRAINT memberships_user_id_fkey FOREIGN KEY (user_id) REFERENCES customers.users(id)
);
CREATE INDEX memberships_user ON customers.memberships USING btree (user_id);

CREATE TABLE organizations (
    id uuid NOT NULL,
    kind text NOT NULL,
    display_name text NOT NULL,
    description text NOT NULL DEFAULT ''::text,
    external_id text,
    parent_id uuid,
    request_id text,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    partner_type text,
    relationship_owner text,
    data_region text NOT NULL DEFAULT 'default'::text,
    revision bigint NOT NULL DEFAULT 1,
    standing text NOT NULL DEFAULT 'active'::text,
    standing_revision bigint NOT NULL DEFAULT 0,
    CONSTRAINT organizations_description_check CHECK ((char_length(description) <= 4096)),
    CONSTRAINT organizations_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 512))),
    CONSTRAINT organizations_external_id_check CHECK (((char_length(external_id) >= 1) AND (char_length(external_id) <= 256))),
    CONSTRAINT organizations_kind_check CHECK ((kind = ANY (ARRAY['distributor'::text, 'partner'::text, 'customer'::text]))),
    CONSTRAINT organizations_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES customers.organizations(id),
    CONSTRAINT organizations_partner_type_check CHECK ((partner_type = ANY (ARRAY['msp'::text, 'reseller'::text]))),
    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_relationship_owner_check CHECK ((relationship_owner = ANY (ARRAY['partner'::text, 'customer'::text]))),
    CONSTRAINT organizations_standing_check CHECK ((standing = ANY (ARRAY['active'::text, 'suspended'::text, 'canceled'::text])))
);
CREATE INDEX organizations_children ON customers.organizations USING btree (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), id);
CREATE UNIQUE INDEX organizations_external_id_unique ON customers.organizations USING btree (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), external_id) WHERE (external_id IS NOT NULL);
CREATE UNIQUE INDEX organizations_request_id_unique ON customers.organizations USING btree (COALESCE(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE overview_rows (
    partner_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    display_name text NOT NULL,
    external_id text NOT NULL,
    status smallint NOT NULL,
    sync_pending_overdue boolean NOT NULL,
    beacon_count bigint NOT NULL,
    upcoming_expiration_kind smallint NOT NULL,
    upcoming_expiration_time timestamp with time zone,
    expiration_status smallint NOT NULL,
    last_successful_sync_time timestamp with time zone,
    computers_total bigint,
    applications_total bigint,
    metrics jsonb NOT NULL,
    next_change_time timestamp with time zone,
    derived_time timestamp with time zone,
    beacon_problems bigint NOT NULL DEFAULT 0,
    CONSTRAINT overview_rows_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT overview_rows_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT overview_rows_pkey PRIMARY KEY (partner_id, customer_id)
);
CREATE INDEX overview_rows_by_applications ON customers.overview_rows USING btree (partner_id, COALESCE(applications_total, ('-1'::integer)::bigint), customer_id);
CREATE INDEX overview_rows_by_beacons ON customers.overview_rows USING btree (partner_id, beacon_count, customer_id);
CREATE INDEX overview_rows_by_computers ON customers.overview_rows USING btree (partner_id, COALESCE(computers_total, ('-1'::integer)::bigint), customer_id);
CREATE INDEX overview_rows_by_expiration_status ON customers.overview_rows USING btree (partner_id, expiration_status, customer_id);
CREATE INDEX overview_rows_by_external_id ON customers.overview_rows USING btree (partner_id, external_id, customer_id);
CREATE INDEX overview_rows_by_last_sync ON customers.overview_rows USING btree (partner_id, COALESCE(last_successful_sync_time, '-infinity'::timestamp with time zone), customer_id);
CREATE INDEX overview_rows_by_name ON customers.overview_rows USING btree (partner_id, display_name, customer_id);
CREATE INDEX overview_rows_by_status ON customers.overview_rows USING btree (partner_id, status, customer_id);
CREATE INDEX overview_rows_by_upcoming ON customers.overview_rows USING btree (partner_id, COALESCE(upcoming_expiration_time, 'infinity'::timestamp with time zone), customer_id);
CREATE INDEX overview_rows_customer ON customers.overview_rows USING btree (customer_id);
CREATE INDEX overview_rows_due ON customers.overview_rows USING btree (next_change_time) WHERE (next_change_time IS NOT NULL);
CREATE INDEX overview_rows_partner_due ON customers.overview_rows USING btree (partner_id, next_change_time) WHERE (next_change_time IS NOT NULL);

CREATE TABLE sync_runs (
    id uuid NOT NULL,
    customer_id uuid NOT NULL,
    trigger text NOT NULL,
    state text NOT NULL,
    create_time timestamp with time zone NOT NULL,
    start_time timestamp with time zone,
    end_time timestamp with time zone,
    error text NOT NULL DEFAULT ''::text,
    unavailable_sources text[] NOT NULL DEFAULT '{}'::text[],
    lease_expires timestamp with time zone,
    CONSTRAINT sync_runs_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT sync_runs_pkey PRIMARY KEY (id),
    CONSTRAINT sync_runs_state_check CHECK ((state = ANY (ARRAY['queued'::text, 'running'::text, 'succeeded'::text, 'failed'::text]))),
    CONSTRAINT sync_runs_trigger_check CHECK ((trigger = ANY (ARRAY['schedule'::text, 'on_demand'::text])))
);
CREATE INDEX sync_runs_customer ON customers.sync_runs USING btree (customer_id, id);
CREATE UNIQUE INDEX sync_runs_one_active ON customers.sync_runs USING btree (customer_id) WHERE (state = ANY (ARRAY['queued'::text, 'running'::text]));
CREATE INDEX sync_runs_queued ON customers.sync_runs USING btree (create_time) WHERE (state = 'queued'::text);

CREATE TABLE sync_snapshots (
    run_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    taken_time timestamp with time zone NOT NULL,
    computers jsonb,
    applications jsonb,
    saas jsonb,
    license_usage jsonb,
    compliance jsonb,
    CONSTRAINT sync_snapshots_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES customers.organizations(id) ON DELETE CASCADE,
    CONSTRAINT sync_snapshots_pkey PRIMARY KEY (run_id),
    CONSTRAINT sync_snapshots_run_id_fkey FOREIGN KEY (run_id) REFERENCES customers.sync_runs(id) ON DELETE CASCADE
);
CREATE INDEX sync_snapshots_customer ON customers.sync_snapshots USING btree (customer_id, taken_time);

CREATE TABLE users (
    id uuid NOT NULL,
    email text NOT NULL,
    display_name text NOT NULL,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT users_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 256))),
    CONSTRAINT users_email_check CHECK (((char_length(email) >= 3) AND (char_length(email) <= 320))),
    CONSTRAINT users_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX users_email_unique ON customers.users USING btree (lower(email));
