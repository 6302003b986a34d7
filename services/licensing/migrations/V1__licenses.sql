-- Licenses a customer purchased. All rows belong to one tenant (the
-- customer's organization id, owned by the customers service; no foreign
-- key crosses services).
CREATE TABLE licenses (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL,
    application  text NOT NULL CHECK (char_length(application) BETWEEN 1 AND 512),
    metric       text NOT NULL CHECK (metric IN ('installations', 'processors', 'cores',
                                                  'users', 'devices', 'concurrent_users', 'site')),
    -- NULL exactly when the license is unlimited: an explicit kind, not -1.
    quantity     bigint CHECK (quantity >= 1),
    unlimited    boolean NOT NULL,
    request_id   text,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    CHECK (unlimited = (quantity IS NULL))
);
CREATE UNIQUE INDEX licenses_request_id_unique
    ON licenses (customer_id, request_id) WHERE request_id IS NOT NULL;
-- Every read is per tenant; keyset pagination within it.
CREATE INDEX licenses_customer ON licenses (customer_id, id);
