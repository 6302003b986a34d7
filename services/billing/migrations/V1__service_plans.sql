-- Service plans a distributor sells through its partners. The distributor
-- is an organization of the customers service, referenced by id only.
CREATE TABLE service_plans (
    id                            uuid PRIMARY KEY,
    distributor_id                uuid NOT NULL,
    display_name                  text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 256),
    product                       text NOT NULL CHECK (char_length(product) BETWEEN 1 AND 256),
    license_type                  text NOT NULL CHECK (license_type IN ('trial', 'full')),
    unit_type                     text NOT NULL CHECK (char_length(unit_type) BETWEEN 1 AND 64),
    initial_period_months         integer NOT NULL CHECK (initial_period_months BETWEEN 1 AND 120),
    auto_renewal                  boolean NOT NULL,
    expiration_notification_days  integer NOT NULL CHECK (expiration_notification_days BETWEEN 0 AND 365),
    enabled                       boolean NOT NULL,
    request_id                    text,
    create_time                   timestamptz NOT NULL,
    update_time                   timestamptz NOT NULL,
    CONSTRAINT service_plans_name_unique UNIQUE (distributor_id, display_name)
);
CREATE UNIQUE INDEX service_plans_request_id_unique
    ON service_plans (distributor_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX service_plans_distributor ON service_plans (distributor_id, id);
