-- Customers with at least one license in each status on $2, among the
-- licenses of distributor $1 (see LICENSE_STATUSES in db/dashboard.rs).
WITH licenses AS (
    SELECT customer_id, product, license_type, auto_renewal, notification_days,
           start_date, seats,
           -- Where a license that does not renew ends (the others do not).
           (start_date + make_interval(months => period_months))::date AS end_date
    FROM product_licenses
    -- A canceled partner's customers are no longer served: they count
    -- in no status.
    WHERE distributor_id = $1 AND partner_id NOT IN (
        SELECT p.id FROM partners p
        WHERE p.distributor_id = $1 AND p.status = 'canceled')),
in_force AS (
    SELECT customer_id, product,
           coalesce(sum(seats) FILTER (WHERE start_date <= $2::date
                                         AND (auto_renewal OR $2::date < end_date)),
                    0)::bigint AS seats
    FROM licenses GROUP BY 1, 2
    HAVING bool_or(auto_renewal OR $2::date < end_date)),
exceeded AS (
    SELECT f.customer_id, f.product FROM in_force f
    CROSS JOIN LATERAL (
        SELECT 1 FROM usage_days u
        WHERE u.customer_id = f.customer_id AND u.product = f.product
          AND u.used_units > f.seats
          AND u.usage_date BETWEEN $2::date - 30 AND $2::date
        LIMIT 1) over)
SELECT status, count(*) FROM (
    SELECT DISTINCT l.customer_id,
           CASE
               WHEN NOT l.auto_renewal AND $2::date >= l.end_date THEN 'expired'
               WHEN x.customer_id IS NOT NULL THEN 'exceeded_allocation'
               WHEN NOT l.auto_renewal AND l.end_date - $2::date <= l.notification_days
                   THEN 'expiring_soon'
               WHEN l.license_type = 'trial' THEN 'trial'
               ELSE 'active'
           END AS status
    FROM licenses l
    LEFT JOIN exceeded x ON x.customer_id = l.customer_id AND x.product = l.product) s
GROUP BY 1
