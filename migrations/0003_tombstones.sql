-- tvault vault format 3: tombstones of shredded records.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- One row per shredded record: what it was (intake hashes per version), when, by whom and
-- why, sealed under K_meta. The content and keys of the record are gone.
CREATE TABLE tombstone (
    record_id   BLOB PRIMARY KEY CHECK (length(record_id) = 16),
    sealed      BLOB NOT NULL
);
