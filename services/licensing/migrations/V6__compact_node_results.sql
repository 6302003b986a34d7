-- Node results, one row per node instead of one per node and application
-- (as V7 does for consumer results): a 300,000-computer estate had
-- 823,000 node rows (and index entries) to write per run, the largest
-- part of storing once consumer rows were compact. A node's row holds its
-- applications' figures encoded and compressed by the service
-- (NodeFigures in services/licensing/src/compliance/chunks.rs), in the
-- run's application order (which is application id order); applications
-- are numbers into the run's key arrays.
--
-- Old runs' node rows are not converted: the next run of each customer
-- writes them anew (node-level reports of a customer are empty until then).

DROP TABLE compliance_node_results;

-- The family of each application number (a number into family_ids), so
-- node rows need not repeat it.
ALTER TABLE compliance_run_keys
    ADD COLUMN family_ids uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN application_families integer[] NOT NULL DEFAULT '{}';

CREATE TABLE compliance_node_results (
    customer_id  uuid NOT NULL,
    run_id       uuid NOT NULL,
    node_id      uuid NOT NULL,
    -- How many applications the node has figures for.
    applications integer NOT NULL CHECK (applications > 0),
    data         bytea NOT NULL,
    PRIMARY KEY (customer_id, run_id, node_id)
);
-- Already compressed: stored out of line without compressing it again.
ALTER TABLE compliance_node_results ALTER COLUMN data SET STORAGE EXTERNAL;
