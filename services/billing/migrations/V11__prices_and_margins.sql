-- Prices belong to the service plan: a price per unit and currency, each
-- in force from its date until the next one's. A billing report takes the
-- price of its product's plan in force on the first day of its month, and
-- the channel margin its partner has, when it is made.
CREATE TABLE service_plan_prices (
    plan_id          uuid NOT NULL REFERENCES service_plans (id) ON DELETE CASCADE,
    effective_from   date NOT NULL,
    currency_code    text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (plan_id, effective_from)
);
ALTER TABLE partners
    ADD COLUMN channel_margin_basis_points integer NOT NULL DEFAULT 0
        CHECK (channel_margin_basis_points BETWEEN 0 AND 10000);
