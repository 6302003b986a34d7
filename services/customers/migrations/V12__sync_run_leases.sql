-- A claimed sync run is held by a lease (database time) a little longer
-- than the run can take; a run whose worker died is failed when its lease
-- runs out, within seconds rather than the ten minutes before. Runs
-- claimed before this migration have no lease and keep the old rule.
ALTER TABLE sync_runs ADD COLUMN lease_expires timestamptz;
