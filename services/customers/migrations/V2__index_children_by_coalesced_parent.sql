-- `parent_id IS NOT DISTINCT FROM $1` cannot use a b-tree index, so
-- children (and top-level organizations) are looked up by the same
-- coalesced expression the unique indexes already use.
DROP INDEX organizations_parent;
CREATE INDEX organizations_children
    ON organizations (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), id);
