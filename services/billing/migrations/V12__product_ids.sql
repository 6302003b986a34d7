-- Products are named by id (`sam-core`), not display text ("SAM Core"):
-- products stored before are turned into ids the same way everywhere
-- (lowercase, runs of other characters to one hyphen, at most 64), so
-- plans, licenses, usage and reports still match.
UPDATE service_plans SET product = coalesce(nullif(left(trim(BOTH '-' FROM
    regexp_replace(lower(product), '[^a-z0-9]+', '-', 'g')), 64), ''), 'product');
UPDATE product_licenses SET product = coalesce(nullif(left(trim(BOTH '-' FROM
    regexp_replace(lower(product), '[^a-z0-9]+', '-', 'g')), 64), ''), 'product');
UPDATE usage_days SET product = coalesce(nullif(left(trim(BOTH '-' FROM
    regexp_replace(lower(product), '[^a-z0-9]+', '-', 'g')), 64), ''), 'product');
UPDATE usage_reports SET product = coalesce(nullif(left(trim(BOTH '-' FROM
    regexp_replace(lower(product), '[^a-z0-9]+', '-', 'g')), 64), ''), 'product');
UPDATE billing_reports SET product = coalesce(nullif(left(trim(BOTH '-' FROM
    regexp_replace(lower(product), '[^a-z0-9]+', '-', 'g')), 64), ''), 'product');

-- A deadline of 0 days auto-submits a month's reports on the first day of
-- the next month.
ALTER TABLE billing_settings
    DROP CONSTRAINT billing_settings_auto_submit_after_days_check,
    ADD CONSTRAINT billing_settings_auto_submit_after_days_check
        CHECK (auto_submit_after_days BETWEEN 0 AND 90);
