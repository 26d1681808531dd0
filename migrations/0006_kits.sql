-- tvault vault format 6: field kits.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- NULL in a vault. In a field kit (a vault that records testimony sealed to headquarters and
-- cannot read it back): what the kit knows of headquarters (its vault id, signing key and the
-- age recipient records are sealed to) and the kit's name, sealed under K_meta. Whether it is
-- NULL is plaintext: the file shows it is a kit, which cannot open what it holds. Covered by
-- the header MAC.
ALTER TABLE vault ADD COLUMN kit BLOB;

-- At headquarters, one row per field kit made here: its name, its age identity (the only key
-- that opens what the kit records), its signing key's public half, its last imported
-- checkpoint and whether it was revoked, sealed under K_meta. The header MAC covers a hash of
-- every row, so none can be removed, replaced or replayed from an older copy.
CREATE TABLE field_kit (
    kit_id      BLOB PRIMARY KEY CHECK (length(kit_id) = 16),
    sealed      BLOB NOT NULL
);
