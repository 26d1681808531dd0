-- tvault vault format 10: RFC 3161 trusted timestamps of checkpoints.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- A timestamp request not yet answered: which checkpoint it covers (the signed note), its
-- imprint and nonce, sealed under K_meta with AAD binding the vault id and the row's id.
-- The row is removed when its answer is stored.
CREATE TABLE timestamp_request (
    id          BLOB PRIMARY KEY CHECK (length(id) = 16),
    sealed      BLOB NOT NULL
);

-- A timestamp token: the authority's response as received, the checkpoint note it covers and
-- the trusted authority certificates it was checked against, sealed the same way. Each is
-- also named (by its SHA-256) in a `timestamp-added` event, so a removed row is found by
-- `verify`.
CREATE TABLE timestamp_token (
    id          BLOB PRIMARY KEY CHECK (length(id) = 16),
    sealed      BLOB NOT NULL
);
