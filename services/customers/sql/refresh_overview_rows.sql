-- A partner's overview rows of customers, recomputed (see db/overview.rs).
INSERT INTO overview_rows (partner_id, customer_id, display_name, external_id,
    status, sync_pending_overdue, beacon_count, upcoming_expiration_kind,
    upcoming_expiration_time, expiration_status, last_successful_sync_time,
    computers_total, applications_total, metrics, next_change_time,
    derived_time, beacon_problems)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],
    $5::smallint[], $6::boolean[], $7::bigint[], $8::smallint[],
    $9::timestamptz[], $10::smallint[], $11::timestamptz[], $12::bigint[],
    $13::bigint[], $14::jsonb[], $15::timestamptz[], $16::timestamptz[],
    $17::bigint[])
ON CONFLICT (partner_id, customer_id) DO UPDATE SET
    display_name = excluded.display_name,
    external_id = excluded.external_id,
    status = excluded.status,
    sync_pending_overdue = excluded.sync_pending_overdue,
    beacon_count = excluded.beacon_count,
    upcoming_expiration_kind = excluded.upcoming_expiration_kind,
    upcoming_expiration_time = excluded.upcoming_expiration_time,
    expiration_status = excluded.expiration_status,
    last_successful_sync_time = excluded.last_successful_sync_time,
    computers_total = excluded.computers_total,
    applications_total = excluded.applications_total,
    metrics = excluded.metrics,
    next_change_time = excluded.next_change_time,
    derived_time = excluded.derived_time,
    beacon_problems = excluded.beacon_problems
