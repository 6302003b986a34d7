-- The dashboard's exceeded-allocation figure asks, per customer and
-- product, whether a day of the last 30 used more units than the seats in
-- force. Ordered by units, a customer within its seats is answered by one
-- index descent instead of a read of every day of the window.
CREATE INDEX usage_days_by_units ON usage_days (customer_id, product, used_units, usage_date);
