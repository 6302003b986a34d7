-- Compliance: exclusions (input), runs and their results (output).
--
-- Results are stored per run so reports read them without recomputing.
-- Only the latest successful run keeps its result rows: a new run writes
-- its rows under its own id and, in the transaction that marks it
-- succeeded, deletes the previous run's rows. A run that fails leaves the
-- last good result in place.

-- A processors or cores license may require a minimum per computer.
ALTER TABLE licenses
    ADD COLUMN minimum_per_computer integer NOT NULL DEFAULT 0
        CHECK (minimum_per_computer >= 0);

CREATE TABLE compliance_exclusions (
    customer_id    uuid NOT NULL,
    id             uuid NOT NULL,
    computer_id    uuid,
    user_id        uuid,
    application_id uuid,
    reason         text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    request_id     text,
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id),
    FOREIGN KEY (customer_id, computer_id) REFERENCES computers (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, user_id) REFERENCES users (customer_id, id) ON DELETE CASCADE,
    FOREIGN KEY (customer_id, application_id) REFERENCES applications (customer_id, id),
    CHECK ((computer_id IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX compliance_exclusions_request
    ON compliance_exclusions (customer_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE compliance_runs (
    customer_id   uuid NOT NULL,
    id            uuid NOT NULL,
    state         text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    trigger       text NOT NULL CHECK (trigger IN ('on_demand', 'scheduled')),
    start_time    timestamptz NOT NULL,
    end_time      timestamptz,
    error         text NOT NULL DEFAULT '',
    computers     bigint NOT NULL DEFAULT 0,
    installations bigint NOT NULL DEFAULT 0,
    licenses      bigint NOT NULL DEFAULT 0,
    -- Totals over all applications (ComplianceFigures).
    initial_requirement bigint NOT NULL DEFAULT 0,
    adjustments         bigint NOT NULL DEFAULT 0,
    requirement         bigint NOT NULL DEFAULT 0,
    coverage            bigint NOT NULL DEFAULT 0,
    compliance          bigint NOT NULL DEFAULT 0,
    unlimited           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (customer_id, id)
);
-- At most one calculation at a time per customer.
CREATE UNIQUE INDEX compliance_runs_running
    ON compliance_runs (customer_id) WHERE state = 'running';
CREATE INDEX compliance_runs_succeeded
    ON compliance_runs (customer_id, id) WHERE state = 'succeeded';

-- Per node and application; node_id NULL rows are the application totals
-- and (application_id NULL) family totals live in their own table.
CREATE TABLE compliance_node_results (
    customer_id         uuid NOT NULL,
    run_id              uuid NOT NULL,
    node_id             uuid NOT NULL,
    application_id      uuid NOT NULL,
    family_id           uuid NOT NULL,
    initial_requirement bigint NOT NULL,
    adjustments         bigint NOT NULL,
    requirement         bigint NOT NULL,
    coverage            bigint NOT NULL,
    compliance          bigint NOT NULL,
    unlimited           boolean NOT NULL,
    PRIMARY KEY (customer_id, run_id, node_id, application_id)
);

CREATE TABLE compliance_application_results (
    customer_id         uuid NOT NULL,
    run_id              uuid NOT NULL,
    application_id      uuid NOT NULL,
    family_id           uuid NOT NULL,
    initial_requirement bigint NOT NULL,
    adjustments         bigint NOT NULL,
    requirement         bigint NOT NULL,
    coverage            bigint NOT NULL,
    compliance          bigint NOT NULL,
    unlimited           boolean NOT NULL,
    PRIMARY KEY (customer_id, run_id, application_id)
);

CREATE TABLE compliance_family_results (
    customer_id         uuid NOT NULL,
    run_id              uuid NOT NULL,
    family_id           uuid NOT NULL,
    initial_requirement bigint NOT NULL,
    adjustments         bigint NOT NULL,
    requirement         bigint NOT NULL,
    coverage            bigint NOT NULL,
    compliance          bigint NOT NULL,
    unlimited           boolean NOT NULL,
    PRIMARY KEY (customer_id, run_id, family_id)
);

CREATE TABLE compliance_license_results (
    customer_id         uuid NOT NULL,
    run_id              uuid NOT NULL,
    license_id          uuid NOT NULL,
    status              text NOT NULL,
    -- NULL: unlimited.
    effective_quantity  bigint,
    taken_by_upgrades   bigint NOT NULL,
    used                bigint NOT NULL,
    surplus             bigint NOT NULL,
    assigned            bigint NOT NULL,
    -- NULL: not a computer or user license.
    unassigned          bigint,
    invalid_assignments bigint NOT NULL,
    invalid_units       bigint NOT NULL,
    PRIMARY KEY (customer_id, run_id, license_id)
);

CREATE TABLE compliance_invalid_assignments (
    customer_id   uuid NOT NULL,
    run_id        uuid NOT NULL,
    assignment_id uuid NOT NULL,
    license_id    uuid NOT NULL,
    computer_id   uuid,
    user_id       uuid,
    reason        text NOT NULL,
    units         bigint NOT NULL,
    PRIMARY KEY (customer_id, run_id, assignment_id, reason)
);

-- One row per consumer and application with a requirement or a
-- no-requirement reason; consumer_id is the computer's or user's id.
CREATE TABLE compliance_consumer_results (
    customer_id    uuid NOT NULL,
    run_id         uuid NOT NULL,
    consumer_id    uuid NOT NULL,
    application_id uuid NOT NULL,
    is_user        boolean NOT NULL,
    requirement    bigint NOT NULL,
    covered        bigint NOT NULL,
    status         text NOT NULL,
    license_ids    uuid[] NOT NULL,
    PRIMARY KEY (customer_id, run_id, consumer_id, application_id)
);

CREATE TABLE compliance_transfers (
    customer_id         uuid NOT NULL,
    run_id              uuid NOT NULL,
    position            bigint NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('upgrade', 'allocation', 'downgrade')),
    license_id          uuid NOT NULL,
    base_id             uuid,
    node_id             uuid,
    from_application_id uuid,
    to_application_id   uuid,
    units               bigint NOT NULL,
    PRIMARY KEY (customer_id, run_id, position)
);
