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
SELECT customer_id, 'RegisterBeacon', request_id, id, now()
FROM beacons WHERE request_id IS NOT NULL
UNION ALL
SELECT coalesce(organization_id, '00000000-0000-0000-0000-000000000000'), 'CreateApiKey',
       request_id, id, now()
FROM api_keys WHERE request_id IS NOT NULL
UNION ALL
SELECT coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), 'CreateOrganization',
       request_id, id, now()
FROM organizations WHERE request_id IS NOT NULL;
