-- Consumer results in chunks instead of one row per consumer: a
-- 300,000-computer estate's 450,000 consumer rows of arrays took
-- PostgreSQL seconds to parse (every array element is read on its own)
-- and to index, most of a run's storing. A row now holds the results of
-- up to 1,000 consumers, consecutive in id order (computers and users
-- alike), encoded and compressed by the service
-- (services/licensing/src/compliance/chunks.rs); applications and
-- licenses remain numbers into compliance_run_keys.
--
-- Old runs' consumer rows are not converted: the next run of each
-- customer writes them anew (reports of a customer return no consumer
-- rows until then).

DROP TABLE compliance_consumer_results;

CREATE TABLE compliance_consumer_results (
    customer_id    uuid NOT NULL,
    run_id         uuid NOT NULL,
    -- The chunk's first and last consumer (a computer's or user's id).
    first_consumer uuid NOT NULL,
    last_consumer  uuid NOT NULL,
    consumers      integer NOT NULL CHECK (consumers > 0),
    data           bytea NOT NULL,
    PRIMARY KEY (customer_id, run_id, first_consumer),
    CHECK (first_consumer <= last_consumer)
);
-- Already compressed: stored out of line without compressing it again.
ALTER TABLE compliance_consumer_results ALTER COLUMN data SET STORAGE EXTERNAL;
