-- The highest role of whoever made a personal key: the key never acts
-- above it, even when its member is promoted later. NULL when nothing
-- bounds it (made by a platform administrator or service, or before this
-- migration: those keys act with their member's role, as they did).
ALTER TABLE api_keys ADD COLUMN role_ceiling text;
