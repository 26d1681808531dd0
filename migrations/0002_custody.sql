-- tvault vault format 2: the custody log.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- The vault's Ed25519 signing key: the public half in plaintext (anyone may check a
-- checkpoint), the secret sealed under K_meta. NULL until the first unlock after upgrading.
ALTER TABLE vault ADD COLUMN signing_public BLOB;
ALTER TABLE vault ADD COLUMN signing_secret BLOB;

-- One row per event: the leaf hash of its Merkle tree position, and the event sealed under
-- K_meta. The sequence number is the leaf index.
CREATE TABLE event (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 0),
    leaf_hash   BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    sealed      BLOB NOT NULL
);

-- The latest signed checkpoint and the right edge of the tree it commits to.
CREATE TABLE checkpoint (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    tree_size   INTEGER NOT NULL CHECK (tree_size >= 0),
    frontier    BLOB NOT NULL,
    note        TEXT NOT NULL
);
