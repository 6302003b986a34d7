-- The SaaS source: applications a SaaS discovery connector found at a
-- customer, and each user's latest activity in them. Uploads are kept by
-- id with a digest of their records, so a retry stores nothing twice.
CREATE TABLE saas_applications (
    customer_id  uuid NOT NULL,
    id           uuid NOT NULL,
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 255),
    vendor       text NOT NULL DEFAULT '' CHECK (char_length(vendor) <= 255),
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id)
);
CREATE UNIQUE INDEX saas_applications_name ON saas_applications (customer_id, display_name);

CREATE TABLE saas_activity (
    customer_id      uuid NOT NULL,
    application_id   uuid NOT NULL,
    username         text NOT NULL CHECK (char_length(username) BETWEEN 1 AND 255),
    last_active_time timestamptz NOT NULL,
    PRIMARY KEY (customer_id, application_id, username),
    FOREIGN KEY (customer_id, application_id)
        REFERENCES saas_applications (customer_id, id) ON DELETE CASCADE
);
CREATE INDEX saas_activity_recent ON saas_activity (customer_id, last_active_time);

CREATE TABLE saas_uploads (
    customer_id  uuid NOT NULL,
    upload_id    text NOT NULL,
    digest       bytea NOT NULL,
    applications bigint NOT NULL,
    records      bigint NOT NULL,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, upload_id)
);
