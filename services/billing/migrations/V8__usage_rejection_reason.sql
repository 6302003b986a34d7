-- Why the distributor last rejected a usage report, kept apart from the
-- partner's own comment. A rejection used to be appended to that comment,
-- where it could stand in for the explanation an over-provisioned report
-- needs before the partner submits it again. Cleared when the report is
-- submitted again. Comments written before this migration keep any
-- appended "Rejected: ..." text: nothing is rewritten.
ALTER TABLE usage_reports
    ADD COLUMN rejection_reason text NOT NULL DEFAULT ''
        CHECK (char_length(rejection_reason) <= 2000);
