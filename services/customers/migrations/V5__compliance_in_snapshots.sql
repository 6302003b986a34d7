-- The latest compliance calculation's totals, gathered from licensing with
-- the rest of the estate summary. NULL: unavailable, or never calculated.
ALTER TABLE sync_snapshots ADD COLUMN compliance jsonb;
