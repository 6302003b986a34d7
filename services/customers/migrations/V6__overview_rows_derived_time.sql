-- The clock reading each overview row was derived at. A refresh derives at
-- the later of its own reading and this one, so a row never goes back in
-- time: not when a scheduler pass that read the clock earlier writes after
-- a read's refresh, nor when replicas' clocks disagree. Rows from before
-- this column are re-derived at their refresher's reading, as before.
ALTER TABLE overview_rows ADD COLUMN derived_time timestamptz;
