-- A beacon that stops reporting is a problem once silent for longer than
-- its threshold (24 hours unless registered otherwise). The overview keeps
-- each row's count of beacons with a problem, so it can list just those
-- customers; every row is derived again to fill it.
ALTER TABLE beacons
    ADD COLUMN silent_after_seconds integer NOT NULL DEFAULT 86400
        CHECK (silent_after_seconds BETWEEN 300 AND 2592000);
ALTER TABLE overview_rows
    ADD COLUMN beacon_problems bigint NOT NULL DEFAULT 0;
UPDATE overview_rows SET next_change_time = '1970-01-01 00:00:00+00';
