-- Idempotent creates claim their request id here first (see
-- estate_db::create_once): a concurrent duplicate waits on the key before
-- any precondition, then replays what the first call made; a request id
-- reused for a different request is refused by its fingerprint. The
-- request ids stored on the resources so far are carried over.
CREATE TABLE idempotency_keys (
    -- The parent the request id is unique under (nil at the top level).
    scope        uuid NOT NULL,
    -- The RPC, e.g. CreateOrgNode.
    method       text NOT NULL,
    request_id   text NOT NULL,
    -- SHA-256 of the request without its request id; NULL for keys
    -- carried over from before this table, which replay for any request.
    fingerprint  bytea,
    -- What the create made; NULL only inside the creating transaction.
    resource_id  uuid,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (scope, method, request_id)
);

INSERT INTO idempotency_keys (scope, method, request_id, resource_id, create_time)
SELECT distributor_id, 'CreateServicePlan', request_id, id, now()
FROM service_plans WHERE request_id IS NOT NULL
UNION ALL
SELECT distributor_id, 'CreatePartner', request_id, id, now()
FROM partners WHERE request_id IS NOT NULL
UNION ALL
SELECT partner_id, 'CreateCustomerAccount', request_id, id, now()
FROM customer_accounts WHERE request_id IS NOT NULL
UNION ALL
SELECT customer_id, 'CreateProductLicense', request_id, id, now()
FROM product_licenses WHERE request_id IS NOT NULL;
