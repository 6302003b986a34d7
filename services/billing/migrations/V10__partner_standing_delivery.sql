-- The customers service keeps a copy of each partner's status (its
-- standing), which every access decision reads. A status change records
-- the partner's new revision in `standing_revision`; `standing_delivered`
-- is the last revision the customers service confirmed. Rows where the two
-- differ are delivered again until confirmed.
ALTER TABLE partners
    ADD COLUMN standing_revision bigint NOT NULL DEFAULT 0,
    ADD COLUMN standing_delivered bigint NOT NULL DEFAULT 0;
-- Partners suspended or canceled before this change are delivered once.
UPDATE partners SET standing_revision = revision WHERE status <> 'active';
CREATE INDEX partners_standing_due ON partners (id)
    WHERE standing_delivered < standing_revision;
