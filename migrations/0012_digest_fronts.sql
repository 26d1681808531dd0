-- tvault vault format 12: a third blob per bucket of the listing digest, its front (kind 2,
-- src/digest.rs), so that `list` prints its first lines before it has read every bucket.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- The same table, allowing kind 2; its rows are kept. SQLite cannot change a CHECK in place.
CREATE TABLE digest_fronts (
    bucket      INTEGER NOT NULL CHECK (bucket BETWEEN 0 AND 255),
    kind        INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
    sealed      BLOB NOT NULL,
    PRIMARY KEY (bucket, kind)
);
INSERT INTO digest_fronts (bucket, kind, sealed) SELECT bucket, kind, sealed FROM digest;
DROP TABLE digest;
ALTER TABLE digest_fronts RENAME TO digest;
