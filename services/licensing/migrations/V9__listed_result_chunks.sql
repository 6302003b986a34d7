-- License, application and family results in chunks, like invalid
-- assignments and transfers (V8): at 10,000 computers the 10,000 license
-- rows and 5,000 application rows each run wrote (and the index entries
-- of their primary keys) were a third of what storing took. A row now
-- holds up to 1,000 results, consecutive in id order (license,
-- application or family id), encoded and compressed by the service
-- (services/licensing/src/compliance/chunks.rs); first_position is the
-- 0-based position of the chunk's first entry. The lists are small
-- (one per license, application or family), so reports that sort them
-- by a figure read them whole and sort in the service.
--
-- Old runs' rows are not converted: the next run of each customer writes
-- them anew (these reports are empty until then; the runs' totals stay).

DROP TABLE compliance_license_results;
DROP TABLE compliance_application_results;
DROP TABLE compliance_family_results;

-- The same shape as the V8 lists: columns, checks, primary key and the
-- data column's storage.
CREATE TABLE compliance_license_results (LIKE compliance_transfers INCLUDING ALL);
CREATE TABLE compliance_application_results (LIKE compliance_transfers INCLUDING ALL);
CREATE TABLE compliance_family_results (LIKE compliance_transfers INCLUDING ALL);
