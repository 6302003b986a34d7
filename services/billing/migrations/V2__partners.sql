-- Partner accounts of a distributor, and their customers' accounts. The
-- organizations (names, hierarchy, members) belong to the customers
-- service; both ids here are its organization ids.
CREATE TABLE partners (
    distributor_id   uuid NOT NULL,
    id               uuid NOT NULL,
    type             text NOT NULL CHECK (type IN ('msp', 'reseller')),
    status           text NOT NULL CHECK (status IN ('active', 'suspended', 'canceled')),
    acquisition_date date NOT NULL,
    region           text NOT NULL CHECK (char_length(region) BETWEEN 1 AND 64),
    request_id       text,
    revision         bigint NOT NULL,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    status_time      timestamptz NOT NULL,
    PRIMARY KEY (distributor_id, id)
);
-- An organization has at most one partner account.
CREATE UNIQUE INDEX partners_organization ON partners (id);
CREATE UNIQUE INDEX partners_request_id_unique
    ON partners (distributor_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX partners_by_acquisition ON partners (distributor_id, acquisition_date DESC, id DESC);

CREATE TABLE customer_accounts (
    distributor_id uuid NOT NULL,
    partner_id     uuid NOT NULL,
    id             uuid NOT NULL,
    enabled        boolean NOT NULL,
    request_id     text,
    revision       bigint NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    PRIMARY KEY (distributor_id, partner_id, id),
    FOREIGN KEY (distributor_id, partner_id) REFERENCES partners (distributor_id, id)
);
CREATE UNIQUE INDEX customer_accounts_organization ON customer_accounts (id);
CREATE UNIQUE INDEX customer_accounts_request_id_unique
    ON customer_accounts (distributor_id, partner_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX customer_accounts_by_distributor ON customer_accounts (distributor_id, id);
