-- A customer's estate, licenses, policy and agreements. Every table leads
-- with customer_id (the tenant: the customer's organization id, owned by the
-- customers service) and references other rows through (customer_id, id),
-- so the database itself refuses a link between two tenants.

-- V1's first-cut licenses table is replaced by the full one below; no
-- release ever depended on its rows.
DROP TABLE licenses;

CREATE TABLE settings (
    customer_id               uuid PRIMARY KEY,
    quarantine_after_days     integer NOT NULL CHECK (quarantine_after_days BETWEEN 1 AND 3650),
    metering_period_days      integer NOT NULL CHECK (metering_period_days BETWEEN 1 AND 3650),
    allow_incomplete_licenses boolean NOT NULL,
    revision                  bigint NOT NULL,
    update_time               timestamptz NOT NULL
);

CREATE TABLE policy_fields (
    customer_id           uuid NOT NULL,
    field                 text NOT NULL,
    required              boolean NOT NULL,
    description           text NOT NULL,
    allowed_values        text[] NOT NULL,
    custom_values_allowed boolean NOT NULL,
    position              integer NOT NULL,
    PRIMARY KEY (customer_id, field)
);

CREATE TABLE policies (
    customer_id uuid PRIMARY KEY,
    revision    bigint NOT NULL
);

-- The organization structure. depth is kept so "below the legal owner"
-- checks and the compliance engine need no recursive query per node.
CREATE TABLE org_nodes (
    customer_id  uuid NOT NULL,
    id           uuid NOT NULL,
    parent_id    uuid,
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    legal        boolean NOT NULL,
    depth        integer NOT NULL CHECK (depth >= 0),
    request_id   text,
    revision     bigint NOT NULL,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, parent_id) REFERENCES org_nodes (customer_id, id),
    CHECK ((parent_id IS NULL) = (depth = 0))
);
CREATE UNIQUE INDEX org_nodes_one_root ON org_nodes (customer_id) WHERE parent_id IS NULL;
CREATE UNIQUE INDEX org_nodes_sibling_name
    ON org_nodes (customer_id, parent_id, lower(display_name)) WHERE parent_id IS NOT NULL;
CREATE INDEX org_nodes_children ON org_nodes (customer_id, parent_id, id);
CREATE UNIQUE INDEX org_nodes_request_id_unique
    ON org_nodes (customer_id, request_id) WHERE request_id IS NOT NULL;

-- The catalog: a family is one product of one manufacturer; its
-- applications are its versions and editions.
CREATE TABLE families (
    customer_id  uuid NOT NULL,
    id           uuid NOT NULL,
    manufacturer text NOT NULL CHECK (char_length(manufacturer) BETWEEN 1 AND 200),
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    PRIMARY KEY (customer_id, id)
);
CREATE UNIQUE INDEX families_identity
    ON families (customer_id, lower(manufacturer), lower(display_name));

CREATE TABLE applications (
    customer_id         uuid NOT NULL,
    id                  uuid NOT NULL,
    family_id           uuid NOT NULL,
    display_name        text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    version             text NOT NULL CHECK (char_length(version) <= 64),
    -- Sorts versions of a family in release order (see catalog::version_key).
    version_key         text COLLATE "C" NOT NULL,
    edition             text NOT NULL CHECK (char_length(edition) <= 64),
    default_metric      text NOT NULL,
    downgrade_allowed   boolean NOT NULL,
    denied              boolean NOT NULL,
    no_license_required boolean NOT NULL,
    request_id          text,
    revision            bigint NOT NULL,
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, family_id) REFERENCES families (customer_id, id)
);
CREATE UNIQUE INDEX applications_identity
    ON applications (customer_id, family_id, lower(display_name), version, edition);
CREATE INDEX applications_family ON applications (customer_id, family_id, version_key);
CREATE UNIQUE INDEX applications_request_id_unique
    ON applications (customer_id, request_id) WHERE request_id IS NOT NULL;

-- Inventory. A computer's status is derived when read: inactive when
-- marked so, quarantined when last_scan_time is older than the customer's
-- quarantine_after_days, else active.
CREATE TABLE computers (
    customer_id    uuid NOT NULL,
    id             uuid NOT NULL,
    hostname       text NOT NULL CHECK (char_length(hostname) BETWEEN 1 AND 255),
    node_id        uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('computer', 'datacenter')),
    processors     integer NOT NULL CHECK (processors >= 1),
    cores          integer NOT NULL CHECK (cores >= processors),
    last_scan_time timestamptz NOT NULL,
    inactive       boolean NOT NULL,
    revision       bigint NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, node_id) REFERENCES org_nodes (customer_id, id)
);
CREATE UNIQUE INDEX computers_hostname ON computers (customer_id, hostname);
CREATE INDEX computers_node ON computers (customer_id, node_id, id);

CREATE TABLE users (
    customer_id uuid NOT NULL,
    id          uuid NOT NULL,
    username    text NOT NULL CHECK (char_length(username) BETWEEN 1 AND 255),
    node_id     uuid NOT NULL,
    create_time timestamptz NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, node_id) REFERENCES org_nodes (customer_id, id)
);
CREATE UNIQUE INDEX users_username ON users (customer_id, username);
CREATE INDEX users_node ON users (customer_id, node_id, id);

-- Clustered by computer so a computer's snapshot is replaced with one
-- range delete and a whole estate reads in one index-ordered scan.
CREATE TABLE installations (
    customer_id    uuid NOT NULL,
    computer_id    uuid NOT NULL,
    application_id uuid NOT NULL,
    PRIMARY KEY (customer_id, computer_id, application_id),
    FOREIGN KEY (customer_id, computer_id) REFERENCES computers (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, application_id) REFERENCES applications (customer_id, id)
);
CREATE INDEX installations_application ON installations (customer_id, application_id);

CREATE TABLE application_usage (
    customer_id    uuid NOT NULL,
    user_id        uuid NOT NULL,
    application_id uuid NOT NULL,
    last_used_time timestamptz NOT NULL,
    PRIMARY KEY (customer_id, user_id, application_id),
    FOREIGN KEY (customer_id, user_id) REFERENCES users (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, application_id) REFERENCES applications (customer_id, id)
);

-- One row per ingested beacon upload: the idempotency record and its result.
CREATE TABLE uploads (
    customer_id   uuid NOT NULL,
    upload_id     text NOT NULL,
    computers     bigint NOT NULL,
    users         bigint NOT NULL,
    installations bigint NOT NULL,
    usage_records bigint NOT NULL,
    received_time timestamptz NOT NULL,
    PRIMARY KEY (customer_id, upload_id)
);

CREATE TABLE agreements (
    customer_id          uuid NOT NULL,
    id                   uuid NOT NULL,
    display_name         text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    kind                 text NOT NULL CHECK (kind IN ('software', 'maintenance', 'support', 'purchase', 'custom')),
    custom_kind          text NOT NULL,
    start_date           date,
    end_date             date,
    subscription         boolean NOT NULL,
    offer_outside_period boolean NOT NULL,
    archived             boolean NOT NULL DEFAULT false,
    archive_group        uuid,
    request_id           text,
    revision             bigint NOT NULL,
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    CHECK ((kind = 'custom') = (custom_kind <> '')),
    CHECK (NOT subscription OR (start_date IS NOT NULL AND end_date IS NOT NULL)),
    CHECK (start_date IS NULL OR end_date IS NULL OR start_date <= end_date)
);
CREATE UNIQUE INDEX agreements_request_id_unique
    ON agreements (customer_id, request_id) WHERE request_id IS NOT NULL;

-- Licenses. Columns the completeness rule looks at are nullable: an
-- incomplete license (allowed by the settings) lacks some of them and
-- lists them in missing_fields.
CREATE TABLE licenses (
    customer_id           uuid NOT NULL,
    id                    uuid NOT NULL,
    application_id        uuid,
    family_id             uuid,
    metric                text CHECK (metric IN ('installations', 'processors', 'cores',
                                                 'users', 'devices', 'concurrent_users', 'site')),
    assignment_type       text CHECK (assignment_type IN ('organization', 'site', 'computer', 'user')),
    -- quantity NULL and unlimited false: not given (incomplete).
    quantity              bigint CHECK (quantity >= 1),
    unlimited             boolean NOT NULL,
    legal_owner_id        uuid,
    purchase_date         date,
    price_currency        text,
    price_amount_minor    bigint,
    vendor                text NOT NULL,
    invoice_reference     text NOT NULL,
    custom_fields         jsonb NOT NULL,
    automatic_allocation  boolean NOT NULL,
    downgrade_rights      boolean NOT NULL,
    subscription_start    date,
    subscription_end      date,
    agreement_id          uuid,
    -- The agreement an archived license is reconnected to on unarchive.
    archived_agreement_id uuid,
    incomplete            boolean NOT NULL,
    missing_fields        text[] NOT NULL,
    archived              boolean NOT NULL,
    archive_group         uuid,
    archive_time          timestamptz,
    request_id            text,
    revision              bigint NOT NULL,
    create_time           timestamptz NOT NULL,
    update_time           timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, application_id) REFERENCES applications (customer_id, id),
    FOREIGN KEY (customer_id, family_id) REFERENCES families (customer_id, id),
    FOREIGN KEY (customer_id, legal_owner_id) REFERENCES org_nodes (customer_id, id),
    FOREIGN KEY (customer_id, agreement_id) REFERENCES agreements (customer_id, id) ON DELETE SET NULL (agreement_id),
    CHECK (application_id IS NULL OR family_id IS NULL),
    CHECK (NOT (unlimited AND quantity IS NOT NULL)),
    CHECK ((price_currency IS NULL) = (price_amount_minor IS NULL)),
    CHECK ((subscription_start IS NULL) = (subscription_end IS NULL)),
    CHECK (subscription_start IS NULL OR subscription_start <= subscription_end),
    CHECK (incomplete = (cardinality(missing_fields) > 0))
);
CREATE UNIQUE INDEX licenses_request_id_unique
    ON licenses (customer_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX licenses_agreement ON licenses (customer_id, agreement_id) WHERE agreement_id IS NOT NULL;
CREATE INDEX licenses_archive_group ON licenses (customer_id, archive_group) WHERE archive_group IS NOT NULL;
CREATE INDEX licenses_legal_owner ON licenses (customer_id, legal_owner_id);

-- An upgrade license takes `quantity` from each of its bases.
CREATE TABLE license_upgrades (
    customer_id uuid NOT NULL,
    upgrade_id  uuid NOT NULL,
    base_id     uuid NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (customer_id, upgrade_id, base_id),
    FOREIGN KEY (customer_id, upgrade_id) REFERENCES licenses (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, base_id) REFERENCES licenses (customer_id, id) ON DELETE CASCADE,
    CHECK (upgrade_id <> base_id)
);
CREATE INDEX license_upgrades_base ON license_upgrades (customer_id, base_id);

CREATE TABLE license_allocations (
    customer_id uuid NOT NULL,
    license_id  uuid NOT NULL,
    node_id     uuid NOT NULL,
    quantity    bigint NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (customer_id, license_id, node_id),
    FOREIGN KEY (customer_id, license_id) REFERENCES licenses (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, node_id) REFERENCES org_nodes (customer_id, id)
);
CREATE INDEX license_allocations_node ON license_allocations (customer_id, node_id);

-- Deleting a consumer deletes (unassigns) its assignments.
CREATE TABLE license_assignments (
    customer_id uuid NOT NULL,
    id          uuid NOT NULL,
    license_id  uuid NOT NULL,
    computer_id uuid,
    user_id     uuid,
    quantity    bigint NOT NULL CHECK (quantity >= 1),
    create_time timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, license_id) REFERENCES licenses (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, computer_id) REFERENCES computers (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, user_id) REFERENCES users (customer_id, id) ON DELETE CASCADE,
    CHECK ((computer_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX license_assignments_license ON license_assignments (customer_id, license_id, id);
CREATE UNIQUE INDEX license_assignments_computer
    ON license_assignments (customer_id, license_id, computer_id) WHERE computer_id IS NOT NULL;
CREATE UNIQUE INDEX license_assignments_user
    ON license_assignments (customer_id, license_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX license_assignments_computer_id ON license_assignments (customer_id, computer_id) WHERE computer_id IS NOT NULL;
CREATE INDEX license_assignments_user_id ON license_assignments (customer_id, user_id) WHERE user_id IS NOT NULL;
