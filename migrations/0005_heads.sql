-- tvault vault format 5: the custody log's word on every record, bound to the header.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- Whether an anchor checkpoint has ever been written for this vault (0 or 1). Covered by the
-- header MAC: once set, a missing anchor stops the vault from opening unless accepted.
ALTER TABLE vault ADD COLUMN anchored INTEGER NOT NULL DEFAULT 0 CHECK (anchored IN (0, 1));

-- Every rotation of the signing key (at rekey), oldest first: old public key (32 bytes), new
-- public key (32), the old key's Ed25519 signature over both (64). Public, like the key;
-- covered by the header MAC.
ALTER TABLE vault ADD COLUMN signing_rotations BLOB NOT NULL DEFAULT X'';

-- Per bucket of record ids (their first byte), each record's current version and whether it
-- was shredded, as the custody log says, sealed under K_meta. Written with the events that
-- change them; the header MAC covers a hash of every row, so no row can be removed, replaced
-- or replayed from an older copy without the vault refusing to open.
CREATE TABLE head (
    bucket      INTEGER PRIMARY KEY CHECK (bucket BETWEEN 0 AND 255),
    sealed      BLOB NOT NULL
);
