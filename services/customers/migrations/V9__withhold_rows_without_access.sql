-- Rows of customers whose access is disabled now withhold everything but
-- the name, ids and status (beacon count, last sync, expirations). Rows
-- stored before are refreshed at the next read or sync pass: marking
-- them due is enough, the refresh derives them anew.
UPDATE overview_rows
SET next_change_time = '1970-01-01 00:00:00+00'
WHERE status = 4;
