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
SELECT customer_id, 'CreateOrgNode', request_id, id, now()
FROM org_nodes WHERE request_id IS NOT NULL
UNION ALL
SELECT customer_id, 'CreateApplication', request_id, id, now()
FROM applications WHERE request_id IS NOT NULL
UNION ALL
SELECT customer_id, 'CreateAgreement', request_id, id, now()
FROM agreements WHERE request_id IS NOT NULL
UNION ALL
SELECT customer_id, 'CreateLicense', request_id, id, now()
FROM licenses WHERE request_id IS NOT NULL
UNION ALL
SELECT customer_id, 'CreateExclusion', request_id, id, now()
FROM compliance_exclusions WHERE request_id IS NOT NULL;
