-- Per-distributor billing settings; a distributor without a row has the
-- defaults.
CREATE TABLE billing_settings (
    distributor_id                     uuid PRIMARY KEY,
    auto_submit_after_days             integer NOT NULL CHECK (auto_submit_after_days BETWEEN 1 AND 90),
    chargeable_drop_threshold_percent  integer NOT NULL CHECK (chargeable_drop_threshold_percent BETWEEN 1 AND 100),
    usage_reports_screen               boolean NOT NULL,
    billing_reports_screen             boolean NOT NULL,
    revision                           bigint NOT NULL
);

-- Monthly usage per partner and product. `used_reported` is the highest
-- daily total reported by products; `used_declared` the partner's own
-- figure when it corrected it.
CREATE TABLE usage_reports (
    distributor_id   uuid NOT NULL,
    partner_id       uuid NOT NULL,
    id               uuid NOT NULL,
    product          text NOT NULL,
    month            date NOT NULL CHECK (extract(day FROM month) = 1),
    status           text NOT NULL CHECK (status IN ('preparing', 'under_review', 'approved', 'rejected')),
    provisioned      bigint NOT NULL CHECK (provisioned >= 0),
    used_reported    bigint CHECK (used_reported >= 0),
    used_declared    bigint CHECK (used_declared >= 0),
    comment          text NOT NULL DEFAULT '' CHECK (char_length(comment) <= 2000),
    auto_submitted   boolean NOT NULL DEFAULT false,
    flagged          boolean NOT NULL DEFAULT false,
    revision         bigint NOT NULL,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    submit_time      timestamptz,
    PRIMARY KEY (distributor_id, partner_id, id),
    UNIQUE (distributor_id, partner_id, product, month),
    FOREIGN KEY (distributor_id, partner_id) REFERENCES partners (distributor_id, id)
);
CREATE INDEX usage_reports_by_month ON usage_reports (distributor_id, month DESC, id);
CREATE INDEX usage_reports_preparing ON usage_reports (month) WHERE status = 'preparing';

-- Billing of approved usage reports. Money in minor units; the margin in
-- basis points.
CREATE TABLE billing_reports (
    distributor_id        uuid NOT NULL,
    id                    uuid NOT NULL,
    partner_id            uuid NOT NULL,
    usage_report_id       uuid NOT NULL,
    product               text NOT NULL,
    month                 date NOT NULL,
    status                text NOT NULL CHECK (status IN ('preparing', 'under_review_manual',
                              'under_review_automatic', 'under_review_automatic_with_penalties',
                              'returned', 'rejected', 'submitted', 'completed')),
    units                 bigint NOT NULL CHECK (units >= 0),
    po_number             text NOT NULL DEFAULT '' CHECK (char_length(po_number) <= 64),
    currency_code         text CHECK (currency_code ~ '^[A-Z]{3}$'),
    unit_price_minor      bigint CHECK (unit_price_minor >= 0),
    margin_basis_points   integer NOT NULL DEFAULT 0 CHECK (margin_basis_points BETWEEN 0 AND 10000),
    revision              bigint NOT NULL,
    create_time           timestamptz NOT NULL,
    update_time           timestamptz NOT NULL,
    PRIMARY KEY (distributor_id, id),
    UNIQUE (usage_report_id),
    FOREIGN KEY (distributor_id, partner_id, usage_report_id)
        REFERENCES usage_reports (distributor_id, partner_id, id)
);
CREATE INDEX billing_reports_by_month ON billing_reports (distributor_id, month DESC, id);
