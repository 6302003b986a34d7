-- Each side of a usage report keeps its own comment, with who wrote it
-- and when: `comment` is the partner's (platform administrators may write
-- it on the partner's behalf), `distributor_comment` the distributor's.
ALTER TABLE usage_reports
    ADD COLUMN comment_author text NOT NULL DEFAULT '',
    ADD COLUMN comment_time timestamptz,
    ADD COLUMN distributor_comment text NOT NULL DEFAULT ''
        CHECK (char_length(distributor_comment) <= 2000),
    ADD COLUMN distributor_comment_author text NOT NULL DEFAULT '',
    ADD COLUMN distributor_comment_time timestamptz;
