-- A running calculation is held by a lease its process renews every few
-- seconds (database time, so replicas' clocks do not matter). When the
-- process dies the lease runs out, and the next calculation of the
-- customer records the dead run as failed and starts at once, instead of
-- waiting an hour. Runs started before this migration have no lease and
-- keep the one-hour rule.
ALTER TABLE compliance_runs ADD COLUMN lease_expires timestamptz;
