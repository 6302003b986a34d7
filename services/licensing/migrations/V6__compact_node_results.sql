-- Node results, one row per node instead of one per node and application
-- (as V5 did for consumer results): a 300,000-computer estate had 823,000
-- node rows (and index entries) to write per run, the largest part of
-- storing once consumer rows were compact. Each row now holds its
-- applications' figures as parallel arrays, in the run's application
-- order (which is application id order), and applications are numbers
-- into the run's key arrays.
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
    customer_id          uuid NOT NULL,
    run_id               uuid NOT NULL,
    node_id              uuid NOT NULL,
    -- One element per application with any requirement or coverage at
    -- the node, ascending.
    applications         integer[] NOT NULL,
    initial_requirements bigint[] NOT NULL,
    adjustments          bigint[] NOT NULL,
    requirements         bigint[] NOT NULL,
    coverages            bigint[] NOT NULL,
    compliances          bigint[] NOT NULL,
    unlimited            boolean[] NOT NULL,
    PRIMARY KEY (customer_id, run_id, node_id),
    CHECK (cardinality(applications) = cardinality(initial_requirements)
       AND cardinality(applications) = cardinality(adjustments)
       AND cardinality(applications) = cardinality(requirements)
       AND cardinality(applications) = cardinality(coverages)
       AND cardinality(applications) = cardinality(compliances)
       AND cardinality(applications) = cardinality(unlimited))
);
