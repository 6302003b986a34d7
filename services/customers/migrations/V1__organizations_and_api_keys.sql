-- Organizations form a tree: distributors at the top, partners below them,
-- customers (and tiers of customers) below partners.
CREATE TABLE organizations (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('distributor', 'partner', 'customer')),
    display_name  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 512),
    description   text NOT NULL DEFAULT '' CHECK (char_length(description) <= 4096),
    external_id   text CHECK (char_length(external_id) BETWEEN 1 AND 256),
    parent_id     uuid REFERENCES organizations (id),
    request_id    text,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL
);

-- Top-level organizations have no parent; the nil uuid stands for "no
-- parent" so uniqueness holds at the top level too.
CREATE UNIQUE INDEX organizations_external_id_unique
    ON organizations (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), external_id)
    WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX organizations_request_id_unique
    ON organizations (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), request_id)
    WHERE request_id IS NOT NULL;
-- Keyset pagination of children and the ancestor walk.
CREATE INDEX organizations_parent ON organizations (parent_id, id);

-- Program credentials. Only a SHA-256 hash of the secret is kept: keys are
-- 256-bit random values, so a fast hash is as strong as a slow one here.
CREATE TABLE api_keys (
    id               uuid PRIMARY KEY,
    -- NULL for platform administrator keys.
    organization_id  uuid REFERENCES organizations (id),
    display_name     text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 256),
    key_prefix       text NOT NULL,
    key_hash         bytea NOT NULL UNIQUE,
    roles            text[] NOT NULL,
    request_id       text,
    create_time      timestamptz NOT NULL,
    last_use_time    timestamptz,
    revoke_time      timestamptz
);
CREATE UNIQUE INDEX api_keys_request_id_unique
    ON api_keys (coalesce(organization_id, '00000000-0000-0000-0000-000000000000'), request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX api_keys_organization ON api_keys (organization_id, id);
