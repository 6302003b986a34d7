-- The month's usage reports of a distributor: created, or recalculated while
-- preparing or rejected. $1 the distributor, $2 the month's first day, $3
-- now.
WITH days AS (
    SELECT d::date AS day FROM generate_series($2::date,
        ($2::date + interval '1 month' - interval '1 day'), interval '1 day') d),
provisioned AS (
    SELECT partner_id, product, max(seats) AS units FROM (
        SELECT l.partner_id, l.product, d.day, sum(l.seats) AS seats
        FROM product_licenses l
        JOIN days d ON l.start_date <= d.day
             AND (l.auto_renewal OR d.day <
                  (l.start_date + make_interval(months => l.period_months))::date)
        -- Trial seats are not charged.
        WHERE l.distributor_id = $1 AND l.license_type = 'full'
        GROUP BY 1, 2, 3) daily
    GROUP BY 1, 2),
-- Trial seats and their usage are not charged either: of a
-- customer's units on a day, those beyond its full seats and
-- within its trial seats are trial usage.
used AS (
    SELECT partner_id, product, max(units) AS units FROM (
        SELECT u.partner_id, u.product, u.usage_date,
               sum(u.used_units - least(
                   greatest(u.used_units - coalesce(s.full_seats, 0), 0),
                   coalesce(s.trial_seats, 0))) AS units
        FROM usage_days u
        LEFT JOIN LATERAL (
            SELECT sum(l.seats) FILTER (WHERE l.license_type = 'full') AS full_seats,
                   sum(l.seats) FILTER (WHERE l.license_type = 'trial') AS trial_seats
            FROM product_licenses l
            WHERE l.distributor_id = u.distributor_id
              AND l.customer_id = u.customer_id AND l.product = u.product
              AND l.start_date <= u.usage_date
              AND (l.auto_renewal OR u.usage_date <
                   (l.start_date + make_interval(months => l.period_months))::date)
        ) s ON true
        WHERE u.distributor_id = $1 AND u.usage_date >= $2::date
          AND u.usage_date < ($2::date + interval '1 month')::date
        GROUP BY 1, 2, 3) daily
    GROUP BY 1, 2),
figures AS (
    SELECT coalesce(p.partner_id, u.partner_id) AS partner_id,
           coalesce(p.product, u.product) AS product,
           coalesce(p.units, 0)::bigint AS provisioned, u.units::bigint AS used
    FROM provisioned p FULL JOIN used u
         ON u.partner_id = p.partner_id AND u.product = p.product)
INSERT INTO usage_reports AS r (distributor_id, partner_id, id, product, month,
    status, provisioned, used_reported, revision, create_time, update_time)
SELECT $1, f.partner_id, gen_random_uuid(), f.product, $2::date, 'preparing',
       f.provisioned, f.used, 1, $3, $3
FROM figures f
JOIN partners pa ON pa.distributor_id = $1 AND pa.id = f.partner_id
-- Nothing provisioned and nothing chargeable used (a partner
-- that sold only trials): nothing to report.
WHERE pa.status <> 'canceled' AND (f.provisioned > 0 OR f.used > 0)
ON CONFLICT (distributor_id, partner_id, product, month) DO UPDATE
SET provisioned = excluded.provisioned, used_reported = excluded.used_reported,
    revision = r.revision + 1, update_time = excluded.update_time
WHERE r.status IN ('preparing', 'rejected')
  AND (r.provisioned, r.used_reported)
      IS DISTINCT FROM (excluded.provisioned, excluded.used_reported)
