-- Invalid assignments and transfers in chunks, like consumer results
-- (V7): a 300,000-computer estate has 121,000 invalid assignments and
-- 111,000 transfers per run, and as rows they were most of what storing
-- still took. A row now holds up to 1,000 of them, consecutive in list
-- order (invalid assignments by assignment and reason, transfers in the
-- engine's order), encoded and compressed by the service
-- (services/licensing/src/compliance/chunks.rs); first_position is the
-- 0-based position of the chunk's first entry in the list.
--
-- Old runs' rows are not converted: the next run of each customer writes
-- them anew (the lists are empty until then).

DROP TABLE compliance_invalid_assignments;
DROP TABLE compliance_transfers;

CREATE TABLE compliance_invalid_assignments (
    customer_id    uuid NOT NULL,
    run_id         uuid NOT NULL,
    first_position bigint NOT NULL CHECK (first_position >= 0),
    entries        integer NOT NULL CHECK (entries > 0),
    data           bytea NOT NULL,
    PRIMARY KEY (customer_id, run_id, first_position)
);
ALTER TABLE compliance_invalid_assignments ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE compliance_transfers (
    customer_id    uuid NOT NULL,
    run_id         uuid NOT NULL,
    first_position bigint NOT NULL CHECK (first_position >= 0),
    entries        integer NOT NULL CHECK (entries > 0),
    data           bytea NOT NULL,
    PRIMARY KEY (customer_id, run_id, first_position)
);
ALTER TABLE compliance_transfers ALTER COLUMN data SET STORAGE EXTERNAL;
