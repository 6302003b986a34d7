-- The billing schema as its migrations leave it, for reading (tables
-- in name order, not runnable as is). Generated from the catalog; a
-- test checks it against a fresh migrate.

CREATE TABLE billing_reports (
    distributor_id uuid NOT NULL,
    id uuid NOT NULL,
    partner_id uuid NOT NULL,
    usage_report_id uuid NOT NULL,
    product text NOT NULL,
    month date NOT NULL,
    status text NOT NULL,
    units bigint NOT NULL,
    po_number text NOT NULL DEFAULT ''::text,
    currency_code text,
    unit_price_minor bigint,
    margin_basis_points integer NOT NULL DEFAULT 0,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT billing_reports_currency_code_check CHECK ((currency_code ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT billing_reports_distributor_id_partner_id_usage_report_id_fkey FOREIGN KEY (distributor_id, partner_id, usage_report_id) REFERENCES billing.usage_reports(distributor_id, partner_id, id),
    CONSTRAINT billing_reports_margin_basis_points_check CHECK (((margin_basis_points >= 0) AND (margin_basis_points <= 10000))),
    CONSTRAINT billing_reports_pkey PRIMARY KEY (distributor_id, id),
    CONSTRAINT billing_reports_po_number_check CHECK ((char_length(po_number) <= 64)),
    CONSTRAINT billing_reports_status_check CHECK ((status = ANY (ARRAY['preparing'::text, 'under_review_manual'::text, 'under_review_automatic'::text, 'under_review_automatic_with_penalties'::text, 'returned'::text, 'rejected'::text, 'submitted'::text, 'completed'::text]))),
    CONSTRAINT billing_reports_unit_price_minor_check CHECK ((unit_price_minor >= 0)),
    CONSTRAINT billing_reports_units_check CHECK ((units >= 0)),
    CONSTRAINT billing_reports_usage_report_id_key UNIQUE (usage_report_id)
);
CREATE INDEX billing_reports_by_month ON billing.billing_reports USING btree (distributor_id, month DESC, id DESC);

CREATE TABLE billing_settings (
    distributor_id uuid NOT NULL,
    auto_submit_after_days integer NOT NULL,
    chargeable_drop_threshold_percent integer NOT NULL,
    usage_reports_screen boolean NOT NULL,
    billing_reports_screen boolean NOT NULL,
    revision bigint NOT NULL,
    CONSTRAINT billing_settings_auto_submit_after_days_check CHECK (((auto_submit_after_days >= 0) AND (auto_submit_after_days <= 90))),
    CONSTRAINT billing_settings_chargeable_drop_threshold_percent_check CHECK (((chargeable_drop_threshold_percent >= 1) AND (chargeable_drop_threshold_percent <= 100))),
    CONSTRAINT billing_settings_pkey PRIMARY KEY (distributor_id)
);

CREATE TABLE customer_accounts (
    distributor_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    id uuid NOT NULL,
    enabled boolean NOT NULL,
    request_id text,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    CONSTRAINT customer_accounts_distributor_id_partner_id_fkey FOREIGN KEY (distributor_id, partner_id) REFERENCES billing.partners(distributor_id, id),
    CONSTRAINT customer_accounts_pkey PRIMARY KEY (distributor_id, partner_id, id)
);
CREATE INDEX customer_accounts_by_distributor ON billing.customer_accounts USING btree (distributor_id, id);
CREATE UNIQUE INDEX customer_accounts_organization ON billing.customer_accounts USING btree (id);
CREATE UNIQUE INDEX customer_accounts_request_id_unique ON billing.customer_accounts USING btree (distributor_id, partner_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE full_license_sales (
    distributor_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    license_id uuid NOT NULL,
    seats bigint NOT NULL,
    sale_date date NOT NULL,
    CONSTRAINT full_license_sales_pkey PRIMARY KEY (license_id, sale_date),
    CONSTRAINT full_license_sales_seats_check CHECK ((seats >= 1))
);
CREATE INDEX full_license_sales_by_partner ON billing.full_license_sales USING btree (distributor_id, partner_id, sale_date);

CREATE TABLE idempotency_keys (
    scope uuid NOT NULL,
    method text NOT NULL,
    request_id text NOT NULL,
    fingerprint bytea,
    resource_id uuid,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, method, request_id)
);

CREATE TABLE partners (
    distributor_id uuid NOT NULL,
    id uuid NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    acquisition_date date NOT NULL,
    region text NOT NULL,
    request_id text,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    status_time timestamp with time zone NOT NULL,
    standing_revision bigint NOT NULL DEFAULT 0,
    standing_delivered bigint NOT NULL DEFAULT 0,
    channel_margin_basis_points integer NOT NULL DEFAULT 0,
    CONSTRAINT partners_channel_margin_basis_points_check CHECK (((channel_margin_basis_points >= 0) AND (channel_margin_basis_points <= 10000))),
    CONSTRAINT partners_pkey PRIMARY KEY (distributor_id, id),
    CONSTRAINT partners_region_check CHECK (((char_length(region) >= 1) AND (char_length(region) <= 64))),
    CONSTRAINT partners_status_check CHECK ((status = ANY (ARRAY['active'::text, 'suspended'::text, 'canceled'::text]))),
    CONSTRAINT partners_type_check CHECK ((type = ANY (ARRAY['msp'::text, 'reseller'::text])))
);
CREATE INDEX partners_by_acquisition ON billing.partners USING btree (distributor_id, acquisition_date DESC, id DESC);
CREATE UNIQUE INDEX partners_organization ON billing.partners USING btree (id);
CREATE UNIQUE INDEX partners_request_id_unique ON billing.partners USING btree (distributor_id, request_id) WHERE (request_id IS NOT NULL);
CREATE INDEX partners_standing_due ON billing.partners USING btree (id) WHERE (standing_delivered < standing_revision);

CREATE TABLE product_licenses (
    distributor_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    id uuid NOT NULL,
    plan_id uuid NOT NULL,
    product text NOT NULL,
    license_type text NOT NULL,
    seats bigint NOT NULL,
    start_date date NOT NULL,
    period_months integer NOT NULL,
    auto_renewal boolean NOT NULL,
    notification_days integer NOT NULL,
    request_id text,
    create_time timestamp with time zone NOT NULL,
    CONSTRAINT product_licenses_distributor_id_partner_id_customer_id_fkey FOREIGN KEY (distributor_id, partner_id, customer_id) REFERENCES billing.customer_accounts(distributor_id, partner_id, id),
    CONSTRAINT product_licenses_license_type_check CHECK ((license_type = ANY (ARRAY['trial'::text, 'full'::text]))),
    CONSTRAINT product_licenses_notification_days_check CHECK (((notification_days >= 0) AND (notification_days <= 365))),
    CONSTRAINT product_licenses_period_months_check CHECK (((period_months >= 1) AND (period_months <= 120))),
    CONSTRAINT product_licenses_pkey PRIMARY KEY (distributor_id, partner_id, customer_id, id),
    CONSTRAINT product_licenses_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES billing.service_plans(id),
    CONSTRAINT product_licenses_seats_bound CHECK ((seats <= 1000000000)),
    CONSTRAINT product_licenses_seats_check CHECK ((seats >= 1))
);
CREATE INDEX product_licenses_by_customer_product ON billing.product_licenses USING btree (customer_id, product);
CREATE UNIQUE INDEX product_licenses_request_id_unique ON billing.product_licenses USING btree (customer_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE service_plan_prices (
    plan_id uuid NOT NULL,
    effective_from date NOT NULL,
    currency_code text NOT NULL,
    unit_price_minor bigint NOT NULL,
    CONSTRAINT service_plan_prices_currency_code_check CHECK ((currency_code ~ '^[A-Z]{3}$'::text)),
    CONSTRAINT service_plan_prices_pkey PRIMARY KEY (plan_id, effective_from),
    CONSTRAINT service_plan_prices_plan_id_fkey FOREIGN KEY (plan_id) REFERENCES billing.service_plans(id) ON DELETE CASCADE,
    CONSTRAINT service_plan_prices_unit_price_minor_check CHECK ((unit_price_minor >= 0))
);

CREATE TABLE service_plans (
    id uuid NOT NULL,
    distributor_id uuid NOT NULL,
    display_name text NOT NULL,
    product text NOT NULL,
    license_type text NOT NULL,
    unit_type text NOT NULL,
    initial_period_months integer NOT NULL,
    auto_renewal boolean NOT NULL,
    expiration_notification_days integer NOT NULL,
    enabled boolean NOT NULL,
    request_id text,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    end_of_sale_time timestamp with time zone,
    revision bigint NOT NULL DEFAULT 1,
    CONSTRAINT service_plans_display_name_check CHECK (((char_length(display_name) >= 1) AND (char_length(display_name) <= 256))),
    CONSTRAINT service_plans_expiration_notification_days_check CHECK (((expiration_notification_days >= 0) AND (expiration_notification_days <= 365))),
    CONSTRAINT service_plans_initial_period_months_check CHECK (((initial_period_months >= 1) AND (initial_period_months <= 120))),
    CONSTRAINT service_plans_license_type_check CHECK ((license_type = ANY (ARRAY['trial'::text, 'full'::text]))),
    CONSTRAINT service_plans_name_unique UNIQUE (distributor_id, display_name),
    CONSTRAINT service_plans_pkey PRIMARY KEY (id),
    CONSTRAINT service_plans_product_check CHECK (((char_length(product) >= 1) AND (char_length(product) <= 256))),
    CONSTRAINT service_plans_unit_type_check CHECK (((char_length(unit_type) >= 1) AND (char_length(unit_type) <= 64)))
);
CREATE INDEX service_plans_distributor ON billing.service_plans USING btree (distributor_id, id);
CREATE INDEX service_plans_enabled ON billing.service_plans USING btree (distributor_id, id) WHERE enabled;
CREATE UNIQUE INDEX service_plans_request_id_unique ON billing.service_plans USING btree (distributor_id, request_id) WHERE (request_id IS NOT NULL);

CREATE TABLE usage_days (
    distributor_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    product text NOT NULL,
    usage_date date NOT NULL,
    used_units bigint NOT NULL,
    client_key text NOT NULL,
    report_time timestamp with time zone NOT NULL,
    CONSTRAINT usage_days_pkey PRIMARY KEY (customer_id, product, usage_date),
    CONSTRAINT usage_days_used_bound CHECK ((used_units <= 1000000000)),
    CONSTRAINT usage_days_used_units_check CHECK ((used_units >= 0))
);
CREATE INDEX usage_days_by_partner ON billing.usage_days USING btree (distributor_id, partner_id, product, usage_date);
CREATE INDEX usage_days_by_units ON billing.usage_days USING btree (customer_id, product, used_units, usage_date);

CREATE TABLE usage_report_keys (
    customer_id uuid NOT NULL,
    client_key text NOT NULL,
    product text NOT NULL,
    usage_date date NOT NULL,
    used_units bigint NOT NULL,
    report_time timestamp with time zone NOT NULL,
    CONSTRAINT usage_report_keys_client_key_check CHECK (((char_length(client_key) >= 1) AND (char_length(client_key) <= 128))),
    CONSTRAINT usage_report_keys_pkey PRIMARY KEY (customer_id, client_key),
    CONSTRAINT usage_report_keys_used_bound CHECK ((used_units <= 1000000000))
);

CREATE TABLE usage_reports (
    distributor_id uuid NOT NULL,
    partner_id uuid NOT NULL,
    id uuid NOT NULL,
    product text NOT NULL,
    month date NOT NULL,
    status text NOT NULL,
    provisioned bigint NOT NULL,
    used_reported bigint,
    used_declared bigint,
    comment text NOT NULL DEFAULT ''::text,
    auto_submitted boolean NOT NULL DEFAULT false,
    flagged boolean NOT NULL DEFAULT false,
    revision bigint NOT NULL,
    create_time timestamp with time zone NOT NULL,
    update_time timestamp with time zone NOT NULL,
    submit_time timestamp with time zone,
    rejection_reason text NOT NULL DEFAULT ''::text,
    comment_author text NOT NULL DEFAULT ''::text,
    comment_time timestamp with time zone,
    distributor_comment text NOT NULL DEFAULT ''::text,
    distributor_comment_author text NOT NULL DEFAULT ''::text,
    distributor_comment_time timestamp with time zone,
    CONSTRAINT usage_reports_comment_check CHECK ((char_length(comment) <= 2000)),
    CONSTRAINT usage_reports_declared_bound CHECK ((used_declared <= '1000000000000'::bigint)),
    CONSTRAINT usage_reports_distributor_comment_check CHECK ((char_length(distributor_comment) <= 2000)),
    CONSTRAINT usage_reports_distributor_id_partner_id_fkey FOREIGN KEY (distributor_id, partner_id) REFERENCES billing.partners(distributor_id, id),
    CONSTRAINT usage_reports_distributor_id_partner_id_product_month_key UNIQUE (distributor_id, partner_id, product, month),
    CONSTRAINT usage_reports_month_check CHECK ((EXTRACT(day FROM month) = (1)::numeric)),
    CONSTRAINT usage_reports_pkey PRIMARY KEY (distributor_id, partner_id, id),
    CONSTRAINT usage_reports_provisioned_check CHECK ((provisioned >= 0)),
    CONSTRAINT usage_reports_rejection_reason_check CHECK ((char_length(rejection_reason) <= 2000)),
    CONSTRAINT usage_reports_status_check CHECK ((status = ANY (ARRAY['preparing'::text, 'under_review'::text, 'approved'::text, 'rejected'::text]))),
    CONSTRAINT usage_reports_used_declared_check CHECK ((used_declared >= 0)),
    CONSTRAINT usage_reports_used_reported_check CHECK ((used_reported >= 0))
);
CREATE INDEX usage_reports_by_month ON billing.usage_reports USING btree (distributor_id, month DESC, id DESC);
CREATE INDEX usage_reports_preparing ON billing.usage_reports USING btree (month) WHERE (status = 'preparing'::text);
