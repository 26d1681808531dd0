-- tvault vault format 11: a tally of the records, so that `status` need not count them.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- How many records the vault holds (distinct record ids in record_version), kept by the two
-- triggers below as versions are added and records removed. Plaintext, like the rows it
-- counts; not covered by the header MAC. `status` shows it without a passphrase; `verify`
-- checks it against the rows, and nothing else relies on it.
ALTER TABLE vault ADD COLUMN records INTEGER NOT NULL DEFAULT 0;
UPDATE vault SET records = (SELECT count(DISTINCT record_id) FROM record_version);

-- A record's first row counts it: its first version, or the version an import starts with.
CREATE TRIGGER record_tally_add AFTER INSERT ON record_version
WHEN NOT EXISTS (
    SELECT 1 FROM record_version WHERE record_id = NEW.record_id AND version <> NEW.version
)
BEGIN
    UPDATE vault SET records = records + 1;
END;

-- Removing a record's last row (a shred, a field kit's handover) uncounts it. Never below
-- zero: an edited tally must not stop a shred.
CREATE TRIGGER record_tally_remove AFTER DELETE ON record_version
WHEN NOT EXISTS (SELECT 1 FROM record_version WHERE record_id = OLD.record_id)
BEGIN
    UPDATE vault SET records = max(records - 1, 0);
END;
