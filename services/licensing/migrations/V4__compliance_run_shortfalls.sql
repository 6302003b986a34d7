-- How many applications a run found short, kept with the run's totals so
-- the estate summary reads it with the run instead of counting rows.
ALTER TABLE compliance_runs ADD COLUMN applications_short bigint NOT NULL DEFAULT 0;
UPDATE compliance_runs r
SET applications_short = (SELECT count(*) FROM compliance_application_results a
                          WHERE a.customer_id = r.customer_id AND a.run_id = r.id
                            AND a.compliance < 0)
WHERE r.state = 'succeeded';
