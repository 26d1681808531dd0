-- tvault vault format 4: the listing digest (src/digest.rs).
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- Per bucket of record ids (their first byte), the summaries (kind 0) and statement texts
-- (kind 1) of its current records, sealed under K_meta. A cache of what the records hold:
-- checked against record_version on every read and rebuilt from the records when stale.
CREATE TABLE digest (
    bucket      INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 255),
    kind        INTEGER NOT NULL CHECK (kind IN (0, 1)),
    sealed      BLOB NOT NULL,
    PRIMARY KEY (bucket, kind)
);
