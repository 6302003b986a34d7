-- The reference columns people look computers up by, as the beacon last
-- reported them: operating system, manufacturer, model, physical or
-- virtual, IP address. Empty (or 'unknown') until reported.
ALTER TABLE computers
    ADD COLUMN operating_system text NOT NULL DEFAULT ''
        CHECK (char_length(operating_system) <= 255),
    ADD COLUMN manufacturer text NOT NULL DEFAULT ''
        CHECK (char_length(manufacturer) <= 255),
    ADD COLUMN model text NOT NULL DEFAULT '' CHECK (char_length(model) <= 255),
    ADD COLUMN machine text NOT NULL DEFAULT 'unknown'
        CHECK (machine IN ('unknown', 'physical', 'virtual')),
    ADD COLUMN ip_address text NOT NULL DEFAULT '' CHECK (char_length(ip_address) <= 45);
