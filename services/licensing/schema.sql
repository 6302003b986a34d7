-- The licensing schema as its migrations leave it, for reading (tables
-- in name order, not runnable as is). Generated from the catalog; a
-- test checks it against a fresh migrate.

CREATE TABLE agreements (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    display_name text NOT NULL,
    kind text NOT NULL,
    custom_kind text NOT NULL,
    start_date date,
    end_date date,
    subscription boolean NOT NULL,
    offer_outside_period boolean NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    archive_group uuid,
    request_id text,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT agreements_check CHECK (((kind = 'custom'::text) = (custom_kind <> ''::text))),
    CONSTRAINT agreements_check1 CHECK (((NOT subscription) OR ((start_date IS NOT NULL) AND (end_date IS NOT NULL)))),
    CONSTRAINT agreements_check2 CHECK (((start_date IS NULL) OR (end_date IS NULL) OR (start_date <= end_date))),
    CONSTRAINT agreements_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 200))),
    CONSTRAINT agreements_kind_check CHECK ((kind = ANY (ARRAY['software'::text, 'maintenance'::text, 'support'::text, 'purchase'::text, 'custom'::text]))),
    CONSTRAINT agreements_pkey PRIMARY KEY (customer_id, id)
);
CREATE UNIQUE INDEX agreements_request_id_unique ON licensing.agreements USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE application_usage (
    customer_id uuid NOT NULL,
    user_id uuid NOT NULL,
    application_id uuid NOT NULL,
    last_used_time timestamp with time zone NOT NULL,
    CONSTRAINT application_usage_customer_id_application_id_fkey FOREIGN KEY (customer_id, application_id) REFERENCES licensing.applications(customer_id, id),
    CONSTRAINT application_usage_customer_id_user_id_fkey FOREIGN KEY (customer_id, user_id) REFERENCES licensing.users(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT application_usage_pkey PRIMARY KEY (customer_id, user_id, application_id)
);

CREATE TABLE applications (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    family_id uuid NOT NULL,
    display_name text NOT NULL,
    version text NOT NULL,
    version_key text NOT NULL,
    edition text NOT NULL,
    default_metric text NOT NULL,
    downgrade_allowed boolean NOT NULL,
    denied boolean NOT NULL,
    no_license_required boolean NOT NULL,
    request_id text,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT applications_customer_id_family_id_fkey FOREIGN KEY (customer_id, family_id) REFERENCES licensing.families(customer_id, id),
    CONSTRAINT applications_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 200))),
    CONSTRAINT applications_edition_check CHECK ((char_length(edition) <= 64)),
    CONSTRAINT applications_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT applications_version_check CHECK ((char_length(version) <= 64))
);
CREATE INDEX applications_family ON licensing.applications USING btree (customer_id, family_id, version_key);
CREATE UNIQUE INDEX applications_identity ON licensing.applications USING btree (customer_id, family_id, lower(display_name), version, edition);
CREATE UNIQUE INDEX applications_request_id_unique ON licensing.applications USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE compliance_application_results (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    first_position bigint NOT NULL,
    entries integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_application_results_pkey PRIMARY KEY (customer_id, run_id, first_position),
    CONSTRAINT compliance_transfers_entries_check CHECK ((entries > 0)),
    CONSTRAINT compliance_transfers_first_position_check CHECK ((first_position >= 0))
);

CREATE TABLE compliance_consumer_results (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    first_consumer uuid NOT NULL,
    last_consumer uuid NOT NULL,
    consumers integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_consumer_results_check CHECK ((first_consumer <= last_consumer)),
    CONSTRAINT compliance_consumer_results_consumers_check CHECK ((consumers > 0)),
    CONSTRAINT compliance_consumer_results_pkey PRIMARY KEY (customer_id, run_id, first_consumer)
);

CREATE TABLE compliance_exclusions (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    computer_id uuid,
    user_id uuid,
    application_id uuid,
    reason text NOT NULL,
    request_id text,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT compliance_exclusions_check CHECK (((computer_id IS NULL) <> (user_id IS NULL))),
    CONSTRAINT compliance_exclusions_customer_id_application_id_fkey FOREIGN KEY (customer_id, application_id) REFERENCES licensing.applications(customer_id, id),
    CONSTRAINT compliance_exclusions_customer_id_computer_id_fkey FOREIGN KEY (customer_id, computer_id) REFERENCES licensing.computers(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT compliance_exclusions_customer_id_user_id_fkey FOREIGN KEY (customer_id, user_id) REFERENCES licensing.users(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT compliance_exclusions_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT compliance_exclusions_reason_check CHECK (((char_length(reason) >= 1) AND (char_length(reason) <= 500)))
);
CREATE UNIQUE INDEX compliance_exclusions_request ON licensing.compliance_exclusions USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE compliance_family_results (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    first_position bigint NOT NULL,
    entries integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_family_results_pkey PRIMARY KEY (customer_id, run_id, first_position),
    CONSTRAINT compliance_transfers_entries_check CHECK ((entries > 0)),
    CONSTRAINT compliance_transfers_first_position_check CHECK ((first_position >= 0))
);

CREATE TABLE compliance_invalid_assignments (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    first_position bigint NOT NULL,
    entries integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_invalid_assignments_entries_check CHECK ((entries > 0)),
    CONSTRAINT compliance_invalid_assignments_first_position_check CHECK ((first_position >= 0)),
    CONSTRAINT compliance_invalid_assignments_pkey PRIMARY KEY (customer_id, run_id, first_position)
);

CREATE TABLE compliance_license_results (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    first_position bigint NOT NULL,
    entries integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_license_results_pkey PRIMARY KEY (customer_id, run_id, first_position),
    CONSTRAINT compliance_transfers_entries_check CHECK ((entries > 0)),
    CONSTRAINT compliance_transfers_first_position_check CHECK ((first_position >= 0))
);

CREATE TABLE compliance_node_results (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    node_id uuid NOT NULL,
    applications integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_node_results_applications_check CHECK ((applications > 0)),
    CONSTRAINT compliance_node_results_pkey PRIMARY KEY (customer_id, run_id, node_id)
);

CREATE TABLE compliance_run_keys (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    application_ids uuid[] NOT NULL,
    license_ids uuid[] NOT NULL,
    family_ids uuid[] NOT NULL DEFAULT '{}'::uuid[],
    application_families integer[] NOT NULL DEFAULT '{}'::integer[],
    CONSTRAINT compliance_run_keys_pkey PRIMARY KEY (customer_id, run_id)
);

CREATE TABLE compliance_runs (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    state text NOT NULL,
    trigger text NOT NULL,
    start_time timestamp with time zone NOT NULL,
    end_time timestamp with time zone,
    error text NOT NULL DEFAULT ''::text,
    computers bigint NOT NULL DEFAULT 0,
    installations bigint NOT NULL DEFAULT 0,
    licenses bigint NOT NULL DEFAULT 0,
    initial_requirement bigint NOT NULL DEFAULT 0,
    adjustments bigint NOT NULL DEFAULT 0,
    requirement bigint NOT NULL DEFAULT 0,
    coverage bigint NOT NULL DEFAULT 0,
    compliance bigint NOT NULL DEFAULT 0,
    unlimited boolean NOT NULL DEFAULT false,
    applications_short bigint NOT NULL DEFAULT 0,
    lease_expires timestamp with time zone,
    CONSTRAINT compliance_runs_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT compliance_runs_state_check CHECK ((state = ANY (ARRAY['running'::text, 'succeeded'::text, 'failed'::text]))),
    CONSTRAINT compliance_runs_trigger_check CHECK ((trigger = ANY (ARRAY['on_demand'::text, 'scheduled'::text])))
);
CREATE UNIQUE INDEX compliance_runs_running ON licensing.compliance_runs USING btree (customer_id) WHERE (state = 'running'::text);
CREATE INDEX compliance_runs_succeeded ON licensing.compliance_runs USING btree (customer_id, id) WHERE (state = 'succeeded'::text);

CREATE TABLE compliance_transfers (
    customer_id uuid NOT NULL,
    run_id uuid NOT NULL,
    first_position bigint NOT NULL,
    entries integer NOT NULL,
    data bytea NOT NULL,
    CONSTRAINT compliance_transfers_entries_check CHECK ((entries > 0)),
    CONSTRAINT compliance_transfers_first_position_check CHECK ((first_position >= 0)),
    CONSTRAINT compliance_transfers_pkey PRIMARY KEY (customer_id, run_id, first_position)
);

CREATE TABLE computers (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    hostname text NOT NULL,
    node_id uuid NOT NULL,
    kind text NOT NULL,
    processors integer NOT NULL,
    cores integer NOT NULL,
    last_scan_time timestamp with time zone NOT NULL,
    inactive boolean NOT NULL,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    operating_system text NOT NULL DEFAULT ''::text,
    manufacturer text NOT NULL DEFAULT ''::text,
    model text NOT NULL DEFAULT ''::text,
    machine text NOT NULL DEFAULT 'unknown'::text,
    ip_address text NOT NULL DEFAULT ''::text,
    CONSTRAINT computers_check CHECK ((cores >= processors)),
    CONSTRAINT computers_customer_id_node_id_fkey FOREIGN KEY (customer_id, node_id) REFERENCES licensing.org_nodes(customer_id, id),
    CONSTRAINT computers_hostname_check CHECK (((char_length(hostname) >= 1) AND (char_length(hostname) <= 255))),
    CONSTRAINT computers_ip_address_check CHECK ((char_length(ip_address) <= 45)),
    CONSTRAINT computers_kind_check CHECK ((kind = ANY (ARRAY['computer'::text, 'datacenter'::text]))),
    CONSTRAINT computers_machine_check CHECK ((machine = ANY (ARRAY['unknown'::text, 'physical'::text, 'virtual'::text]))),
    CONSTRAINT computers_manufacturer_check CHECK ((char_length(manufacturer) <= 255)),
    CONSTRAINT computers_model_check CHECK ((char_length(model) <= 255)),
    CONSTRAINT computers_operating_system_check CHECK ((char_length(operating_system) <= 255)),
    CONSTRAINT computers_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT computers_processors_check CHECK ((processors >= 1))
);
CREATE UNIQUE INDEX computers_hostname ON licensing.computers USING btree (customer_id, hostname);
CREATE INDEX computers_node ON licensing.computers USING btree (customer_id, node_id, id);

CREATE TABLE families (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    manufacturer text NOT NULL,
    display_name text NOT NULL,
    CONSTRAINT families_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 200))),
    CONSTRAINT families_manufacturer_check CHECK (((char_length(manufacturer) >= 1) AND (char_length(manufacturer) <= 200))),
    CONSTRAINT families_pkey PRIMARY KEY (customer_id, id)
);
CREATE UNIQUE INDEX families_identity ON licensing.families USING btree (customer_id, lower(manufacturer), lower(display_name));

CREATE TABLE idempotency_keys (
    scope uuid NOT NULL,
    method text NOT NULL,
    request_id text NOT NULL,
    fingerprint bytea,
    resource_id uuid,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, method, request_id)
);

CREATE TABLE installations (
    customer_id uuid NOT NULL,
    computer_id uuid NOT NULL,
    application_id uuid NOT NULL,
    CONSTRAINT installations_customer_id_application_id_fkey FOREIGN KEY (customer_id, application_id) REFERENCES licensing.applications(customer_id, id),
    CONSTRAINT installations_customer_id_computer_id_fkey FOREIGN KEY (customer_id, computer_id) REFERENCES licensing.computers(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT installations_pkey PRIMARY KEY (customer_id, computer_id, application_id)
);
CREATE INDEX installations_application ON licensing.installations USING btree (customer_id, application_id);

CREATE TABLE license_allocations (
    customer_id uuid NOT NULL,
    license_id uuid NOT NULL,
    node_id uuid NOT NULL,
    quantity bigint NOT NULL,
    CONSTRAINT license_allocations_customer_id_license_id_fkey FOREIGN KEY (customer_id, license_id) REFERENCES licensing.licenses(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT license_allocations_customer_id_node_id_fkey FOREIGN KEY (customer_id, node_id) REFERENCES licensing.org_nodes(customer_id, id),
    CONSTRAINT license_allocations_pkey PRIMARY KEY (customer_id, license_id, node_id),
    CONSTRAINT license_allocations_quantity_check CHECK ((quantity >= 1))
);
CREATE INDEX license_allocations_node ON licensing.license_allocations USING btree (customer_id, node_id);

CREATE TABLE license_assignments (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    license_id uuid NOT NULL,
    computer_id uuid,
    user_id uuid,
    quantity bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT license_assignments_check CHECK (((computer_id IS NULL) <> (user_id IS NULL))),
    CONSTRAINT license_assignments_customer_id_computer_id_fkey FOREIGN KEY (customer_id, computer_id) REFERENCES licensing.computers(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT license_assignments_customer_id_license_id_fkey FOREIGN KEY (customer_id, license_id) REFERENCES licensing.licenses(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT license_assignments_customer_id_user_id_fkey FOREIGN KEY (customer_id, user_id) REFERENCES licensing.users(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT license_assignments_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT license_assignments_quantity_check CHECK ((quantity >= 1))
);
CREATE UNIQUE INDEX license_assignments_computer ON licensing.license_assignments USING btree (customer_id, license_id, computer_id) WHERE (computer_id IS NOT NULL);
CREATE INDEX license_assignments_computer_id ON licensing.license_assignments USING btree (customer_id, computer_id) WHERE (computer_id IS NOT NULL);
CREATE INDEX license_assignments_license ON licensing.license_assignments USING btree (customer_id, license_id, id);
CREATE UNIQUE INDEX license_assignments_user ON licensing.license_assignments USING btree (customer_id, license_id, user_id) WHERE (user_id IS NOT NULL);
CREATE INDEX license_assignments_user_id ON licensing.license_assignments USING btree (customer_id, user_id) WHERE (user_id IS NOT NULL);

CREATE TABLE license_upgrades (
    customer_id uuid NOT NULL,
    upgrade_id uuid NOT NULL,
    base_id uuid NOT NULL,
    quantity bigint NOT NULL,
    CONSTRAINT license_upgrades_check CHECK ((upgrade_id <> base_id)),
    CONSTRAINT license_upgrades_customer_id_base_id_fkey FOREIGN KEY (customer_id, base_id) REFERENCES licensing.licenses(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT license_upgrades_customer_id_upgrade_id_fkey FOREIGN KEY (customer_id, upgrade_id) REFERENCES licensing.licenses(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT license_upgrades_pkey PRIMARY KEY (customer_id, upgrade_id, base_id),
    CONSTRAINT license_upgrades_quantity_check CHECK ((quantity >= 1))
);
CREATE INDEX license_upgrades_base ON licensing.license_upgrades USING btree (customer_id, base_id);

CREATE TABLE licenses (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    application_id uuid,
    family_id uuid,
    metric text,
    assignment_type text,
    quantity bigint,
    unlimited boolean NOT NULL,
    legal_owner_id uuid,
    purchase_date date,
    price_currency text,
    price_amount_minor bigint,
    vendor text NOT NULL,
    invoice_reference text NOT NULL,
    custom_fields jsonb NOT NULL,
    automatic_allocation boolean NOT NULL,
    downgrade_rights boolean NOT NULL,
    subscription_start date,
    subscription_end date,
    agreement_id uuid,
    archived_agreement_id uuid,
    incomplete boolean NOT NULL,
    missing_fields text[] NOT NULL,
    archived boolean NOT NULL,
    archive_group uuid,
    archive_time timestamp with time zone,
    request_id text,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    minimum_per_computer integer NOT NULL DEFAULT 0,
    CONSTRAINT licenses_assignment_type_check CHECK ((assignment_type = ANY (ARRAY['organization'::text, 'site'::text, 'computer'::text, 'user'::text]))),
    CONSTRAINT licenses_check CHECK (((application_id IS NULL) OR (family_id IS NULL))),
    CONSTRAINT licenses_check1 CHECK ((NOT (unlimited AND (quantity IS NOT NULL)))),
    CONSTRAINT licenses_check2 CHECK (((price_currency IS NULL) = (price_amount_minor IS NULL))),
    CONSTRAINT licenses_check3 CHECK (((subscription_start IS NULL) = (subscription_end IS NULL))),
    CONSTRAINT licenses_check4 CHECK (((subscription_start IS NULL) OR (subscription_start <= subscription_end))),
    CONSTRAINT licenses_check5 CHECK ((incomplete = (cardinality(missing_fields) > 0))),
    CONSTRAINT licenses_customer_id_agreement_id_fkey FOREIGN KEY (customer_id, agreement_id) REFERENCES licensing.agreements(customer_id, id) ON DELETE SET NULL (agreement_id),
    CONSTRAINT licenses_customer_id_application_id_fkey FOREIGN KEY (customer_id, application_id) REFERENCES licensing.applications(customer_id, id),
    CONSTRAINT licenses_customer_id_family_id_fkey FOREIGN KEY (customer_id, family_id) REFERENCES licensing.families(customer_id, id),
    CONSTRAINT licenses_customer_id_legal_owner_id_fkey FOREIGN KEY (customer_id, legal_owner_id) REFERENCES licensing.org_nodes(customer_id, id),
    CONSTRAINT licenses_metric_check CHECK ((metric = ANY (ARRAY['installations'::text, 'processors'::text, 'cores'::text, 'users'::text, 'devices'::text, 'concurrent_users'::text, 'site'::text]))),
    CONSTRAINT licenses_minimum_per_computer_check CHECK ((minimum_per_computer >= 0)),
    CONSTRAINT licenses_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT licenses_quantity_check CHECK ((quantity >= 1))
);
CREATE INDEX licenses_agreement ON licensing.licenses USING btree (customer_id, agreement_id) WHERE (agreement_id IS NOT NULL);
CREATE INDEX licenses_archive_group ON licensing.licenses USING btree (customer_id, archive_group) WHERE (archive_group IS NOT NULL);
CREATE INDEX licenses_legal_owner ON licensing.licenses USING btree (customer_id, legal_owner_id);
CREATE UNIQUE INDEX licenses_request_id_unique ON licensing.licenses USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE org_nodes (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    parent_id uuid,
    display_name text NOT NULL,
    legal boolean NOT NULL,
    depth integer NOT NULL,
    request_id text,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT org_nodes_check CHECK (((parent_id IS NULL) = (depth = 0))),
    CONSTRAINT org_nodes_customer_id_parent_id_fkey FOREIGN KEY (customer_id, parent_id) REFERENCES licensing.org_nodes(customer_id, id),
    CONSTRAINT org_nodes_depth_check CHECK ((depth >= 0)),
    CONSTRAINT org_nodes_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 200))),
    CONSTRAINT org_nodes_pkey PRIMARY KEY (customer_id, id)
);
CREATE INDEX org_nodes_children ON licensing.org_nodes USING btree (customer_id, parent_id, id);
CREATE UNIQUE INDEX org_nodes_one_root ON licensing.org_nodes USING btree (customer_id) WHERE (parent_id IS NULL);
CREATE UNIQUE INDEX org_nodes_request_id_unique ON licensing.org_nodes USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);
CREATE UNIQUE INDEX org_nodes_sibling_name ON licensing.org_nodes USING btree (customer_id, parent_id, lower(display_name)) WHERE (parent_id IS NOT NULL);

CREATE TABLE policies (
    customer_id uuid NOT NULL,
    revision bigint NOT NULL,
    CONSTRAINT policies_pkey PRIMARY KEY (customer_id)
);

CREATE TABLE policy_fields (
    customer_id uuid NOT NULL,
    field text NOT NULL,
    required boolean NOT NULL,
    description text NOT NULL,
    allowed_values text[] NOT NULL,
    custom_values_allowed boolean NOT NULL,
    position integer NOT NULL,
    CONSTRAINT policy_fields_pkey PRIMARY KEY (customer_id, field)
);

CREATE TABLE saas_activity (
    customer_id uuid NOT NULL,
    application_id uuid NOT NULL,
    username text NOT NULL,
    last_active_time timestamp with time zone NOT NULL,
    CONSTRAINT saas_activity_customer_id_application_id_fkey FOREIGN KEY (customer_id, application_id) REFERENCES licensing.saas_applications(customer_id, id) ON DELETE CASCADE,
    CONSTRAINT saas_activity_pkey PRIMARY KEY (customer_id, application_id, username),
    CONSTRAINT saas_activity_username_check CHECK (((char_length(username) >= 1) AND (char_length(username) <= 255)))
);
CREATE INDEX saas_activity_recent ON licensing.saas_activity USING btree (customer_id, last_active_time);

CREATE TABLE saas_applications (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    display_name text NOT NULL,
    vendor text NOT NULL DEFAULT ''::text,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT saas_applications_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 255))),
    CONSTRAINT saas_applications_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT saas_applications_vendor_check CHECK ((char_length(vendor) <= 255))
);
CREATE UNIQUE INDEX saas_applications_name ON licensing.saas_applications USING btree (customer_id, display_name);

CREATE TABLE saas_uploads (
    customer_id uuid NOT NULL,
    upload_id text NOT NULL,
    digest bytea NOT NULL,
    applications bigint NOT NULL,
    records bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT saas_uploads_pkey PRIMARY KEY (customer_id, upload_id)
);

CREATE TABLE settings (
    customer_id uuid NOT NULL,
    quarantine_after_days integer NOT NULL,
    metering_period_days integer NOT NULL,
    allow_incomplete_licenses boolean NOT NULL,
    revision bigint NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT settings_metering_period_days_check CHECK (((metering_period_days >= 1) AND (metering_period_days <= 3650))),
    CONSTRAINT settings_pkey PRIMARY KEY (customer_id),
    CONSTRAINT settings_quarantine_after_days_check CHECK (((quarantine_after_days >= 1) AND (quarantine_after_days <= 3650)))
);

CREATE TABLE uploads (
    customer_id uuid NOT NULL,
    upload_id text NOT NULL,
    computers bigint NOT NULL,
    users bigint NOT NULL,
    installations bigint NOT NULL,
    usage_records bigint NOT NULL,
    received_time timestamp with time zone NOT NULL,
    CONSTRAINT uploads_pkey PRIMARY KEY (customer_id, upload_id)
);

CREATE TABLE users (
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    username text NOT NULL,
    node_id uuid NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT users_customer_id_node_id_fkey FOREIGN KEY (customer_id, node_id) REFERENCES licensing.org_nodes(customer_id, id),
    CONSTRAINT users_pkey PRIMARY KEY (customer_id, id),
    CONSTRAINT users_username_check CHECK (((char_length(username) >= 1) AND (char_length(username) <= 255)))
);
CREATE INDEX users_node ON licensing.users USING btree (customer_id, node_id, id);
CREATE UNIQUE INDEX users_username ON licensing.users USING btree (customer_id, username);
