-- Seats and used units are bounded, so sums over a distributor's customers
-- and percentages of them stay well inside bigint.
ALTER TABLE product_licenses ADD CONSTRAINT product_licenses_seats_bound CHECK (seats <= 1000000000);
ALTER TABLE usage_days ADD CONSTRAINT usage_days_used_bound CHECK (used_units <= 1000000000);
ALTER TABLE usage_report_keys ADD CONSTRAINT usage_report_keys_used_bound CHECK (used_units <= 1000000000);
ALTER TABLE usage_reports ADD CONSTRAINT usage_reports_declared_bound CHECK (used_declared <= 1000000000000);

-- Report lists read newest month first, ties by id descending.
DROP INDEX usage_reports_by_month;
CREATE INDEX usage_reports_by_month ON usage_reports (distributor_id, month DESC, id DESC);
DROP INDEX billing_reports_by_month;
CREATE INDEX billing_reports_by_month ON billing_reports (distributor_id, month DESC, id DESC);
