-- A plan past its end of sale is read-only and takes no new licenses.
ALTER TABLE service_plans ADD COLUMN end_of_sale_time timestamptz;
CREATE INDEX service_plans_enabled ON service_plans (distributor_id, id) WHERE enabled;
-- Etags from a revision counter: an update time does not change when two
-- writes share a clock tick.
ALTER TABLE service_plans ADD COLUMN revision bigint NOT NULL DEFAULT 1;
