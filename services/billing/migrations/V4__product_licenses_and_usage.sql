-- Customers' licenses of products, sold from service plans. The plan's
-- terms are copied at sale: later plan edits do not change what was sold.
CREATE TABLE product_licenses (
    distributor_id     uuid NOT NULL,
    partner_id         uuid NOT NULL,
    customer_id        uuid NOT NULL,
    id                 uuid NOT NULL,
    plan_id            uuid NOT NULL REFERENCES service_plans (id),
    product            text NOT NULL,
    license_type       text NOT NULL CHECK (license_type IN ('trial', 'full')),
    seats              bigint NOT NULL CHECK (seats >= 1),
    start_date         date NOT NULL,
    period_months      integer NOT NULL CHECK (period_months BETWEEN 1 AND 120),
    auto_renewal       boolean NOT NULL,
    notification_days  integer NOT NULL CHECK (notification_days BETWEEN 0 AND 365),
    request_id         text,
    create_time        timestamptz NOT NULL,
    PRIMARY KEY (distributor_id, partner_id, customer_id, id),
    FOREIGN KEY (distributor_id, partner_id, customer_id)
        REFERENCES customer_accounts (distributor_id, partner_id, id)
);
CREATE UNIQUE INDEX product_licenses_request_id_unique
    ON product_licenses (customer_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX product_licenses_by_customer_product ON product_licenses (customer_id, product);

-- Full (non-trial) seats sold: the "full license sale" the dashboard's
-- inactive-new-partners figure looks for.
CREATE TABLE full_license_sales (
    distributor_id uuid NOT NULL,
    partner_id     uuid NOT NULL,
    customer_id    uuid NOT NULL,
    license_id     uuid NOT NULL,
    seats          bigint NOT NULL CHECK (seats >= 1),
    sale_date      date NOT NULL,
    PRIMARY KEY (license_id, sale_date)
);
CREATE INDEX full_license_sales_by_partner ON full_license_sales (distributor_id, partner_id, sale_date);

-- Every usage report received, by the reporter's key: a retry with the same
-- key is answered from here.
CREATE TABLE usage_report_keys (
    customer_id  uuid NOT NULL,
    client_key   text NOT NULL CHECK (char_length(client_key) BETWEEN 1 AND 128),
    product      text NOT NULL,
    usage_date   date NOT NULL,
    used_units   bigint NOT NULL,
    report_time  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, client_key)
);

-- The figure that counts per customer, product and day: the latest report.
CREATE TABLE usage_days (
    distributor_id uuid NOT NULL,
    partner_id     uuid NOT NULL,
    customer_id    uuid NOT NULL,
    product        text NOT NULL,
    usage_date     date NOT NULL,
    used_units     bigint NOT NULL CHECK (used_units >= 0),
    client_key     text NOT NULL,
    report_time    timestamptz NOT NULL,
    PRIMARY KEY (customer_id, product, usage_date)
);
CREATE INDEX usage_days_by_partner ON usage_days (distributor_id, partner_id, product, usage_date);
