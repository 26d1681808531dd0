-- tvault vault format 1.
-- Every column that is not a BLOB sealed under the vault's keys is listed, with what it
-- reveals, in SECURITY.md ("What the vault file shows"). Never edit a shipped migration.

CREATE TABLE vault (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    vault_id    BLOB NOT NULL CHECK (length(vault_id) = 16),
    -- HMAC-SHA256 under K_hdr over the vault id and every keyslot.
    header_mac  BLOB NOT NULL
);

CREATE TABLE keyslot (
    slot_id     BLOB PRIMARY KEY CHECK (length(slot_id) = 16),
    kind        TEXT NOT NULL CHECK (kind IN ('passphrase', 'recovery')),
    kdf_m_kib   INTEGER NOT NULL,
    kdf_t       INTEGER NOT NULL,
    kdf_p       INTEGER NOT NULL,
    weak_kdf    INTEGER NOT NULL CHECK (weak_kdf IN (0, 1)),
    salt        BLOB NOT NULL,
    -- The vault master key sealed under the Argon2id key of this slot's secret.
    wrapped_vmk BLOB NOT NULL,
    -- The operator's name sealed under K_meta.
    label       BLOB NOT NULL
);

CREATE TABLE record_version (
    record_id   BLOB NOT NULL CHECK (length(record_id) = 16),
    version     INTEGER NOT NULL CHECK (version >= 1),
    -- Metadata and the manifest of parts, sealed under K_meta.
    meta        BLOB NOT NULL,
    -- The witness's real identity sealed under K_meta; sealed (empty) even when none was
    -- given, so the file does not show which records name their witness.
    identity    BLOB NOT NULL,
    PRIMARY KEY (record_id, version)
);

CREATE TABLE part (
    id          INTEGER PRIMARY KEY,
    record_id   BLOB NOT NULL,
    version     INTEGER NOT NULL,
    part_no     INTEGER NOT NULL CHECK (part_no >= 0),
    -- The age header: tvault's stanza (the wrapped file key) and the header MAC.
    header      BLOB NOT NULL,
    UNIQUE (record_id, version, part_no),
    FOREIGN KEY (record_id, version) REFERENCES record_version (record_id, version)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE chunk (
    part_id     INTEGER NOT NULL REFERENCES part (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    -- About 1 MiB of the age payload.
    data        BLOB NOT NULL,
    PRIMARY KEY (part_id, seq)
);
