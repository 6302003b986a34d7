-- Product licenses with their period end and status on $1 (see
-- db/license_status.rs).
WITH l AS (
    SELECT l.*,
           (l.start_date + make_interval(months => l.period_months * CASE
                WHEN l.auto_renewal THEN greatest(1, floor(
                    (extract(year FROM age($1::date, l.start_date)) * 12
                     + extract(month FROM age($1::date, l.start_date)))
                    / l.period_months)::integer + 1)
                ELSE 1 END))::date AS end_date
    FROM product_licenses l
)
SELECT l.distributor_id, l.partner_id, l.customer_id, l.id, l.plan_id, l.product,
       l.license_type, l.seats, l.start_date, l.end_date, l.auto_renewal,
       CASE
           WHEN NOT l.auto_renewal AND $1::date >= l.end_date THEN 'expired'
           WHEN (SELECT max(u.used_units) FROM usage_days u
                 WHERE u.customer_id = l.customer_id AND u.product = l.product
                   AND u.usage_date BETWEEN $1::date - 30 AND $1::date)
              > (SELECT coalesce(sum(o.seats), 0) FROM product_licenses o
                 WHERE o.customer_id = l.customer_id AND o.product = l.product
                   AND o.start_date <= $1::date
                   AND (o.auto_renewal OR $1::date <
                        (o.start_date + make_interval(months => o.period_months))::date))
               THEN 'exceeded_allocation'
           WHEN NOT l.auto_renewal AND l.end_date - $1::date <= l.notification_days
               THEN 'expiring_soon'
           WHEN l.license_type = 'trial' THEN 'trial'
           ELSE 'active'
       END AS status,
       l.create_time
FROM l
