-- Consumer results, one row per consumer instead of one per consumer and
-- application: a 300,000-computer estate with 20 installations each had
-- 6 million rows (and index entries) to write per run, which made storing
-- take most of a run. Each row now holds its applications' results as
-- parallel arrays, and applications and licenses are numbers into the
-- run's own key arrays (compliance_run_keys), which keeps rows small.
--
-- Old runs' consumer rows are not converted: the next run of each
-- customer writes them anew (reports of a customer return no consumer
-- rows until then).

DROP TABLE compliance_consumer_results;

-- The ids behind a run's application and license numbers: number n is
-- element n (1-based) of the array.
CREATE TABLE compliance_run_keys (
    customer_id     uuid NOT NULL,
    run_id          uuid NOT NULL,
    application_ids uuid[] NOT NULL,
    license_ids     uuid[] NOT NULL,
    PRIMARY KEY (customer_id, run_id)
);

CREATE TABLE compliance_consumer_results (
    customer_id    uuid NOT NULL,
    run_id         uuid NOT NULL,
    -- The computer's or user's id.
    consumer_id    uuid NOT NULL,
    is_user        boolean NOT NULL,
    -- One element per application with a requirement or a no-requirement
    -- reason, in the run's application order.
    applications   integer[] NOT NULL,
    requirements   integer[] NOT NULL,
    covered        integer[] NOT NULL,
    -- 1 covered, 2 not covered, 3..6 no requirement: no license required,
    -- inactive, not used, excluded.
    statuses       smallint[] NOT NULL,
    -- The covering licenses of every element, concatenated in element
    -- order; element i's are licenses[license_starts[i] + 1 ..
    -- license_starts[i + 1]] (the last one's run to the end).
    license_starts integer[] NOT NULL,
    licenses       integer[] NOT NULL,
    PRIMARY KEY (customer_id, run_id, consumer_id),
    CHECK (cardinality(applications) = cardinality(requirements)
       AND cardinality(applications) = cardinality(covered)
       AND cardinality(applications) = cardinality(statuses)
       AND cardinality(applications) = cardinality(license_starts))
);
