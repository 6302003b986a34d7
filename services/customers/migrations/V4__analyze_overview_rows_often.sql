-- Partners are bulk-loaded: keep the planner's statistics of the overview
-- close behind, so pages keep walking the sort indexes instead of sorting
-- a partner's every row (seen in the overview benchmark on a fresh table).
ALTER TABLE overview_rows SET (
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 200
);
