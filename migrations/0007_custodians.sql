-- tvault vault format 7: custodians (a keyslot whose secret is split into K-of-N shares).
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.
--
-- SQLite cannot change a CHECK constraint in place, so the keyslot table is rebuilt with the
-- new kind allowed and every row copied as it is. Nothing refers to the table by foreign key.

CREATE TABLE keyslot_v7 (
    slot_id     BLOB PRIMARY KEY CHECK (length(slot_id) = 16),
    kind        TEXT NOT NULL CHECK (kind IN ('passphrase', 'recovery', 'custodians')),
    kdf_m_kib   INTEGER NOT NULL,
    kdf_t       INTEGER NOT NULL,
    kdf_p       INTEGER NOT NULL,
    weak_kdf    INTEGER NOT NULL CHECK (weak_kdf IN (0, 1)),
    salt        BLOB NOT NULL,
    -- The vault master key sealed under the Argon2id key of this slot's secret.
    wrapped_vmk BLOB NOT NULL,
    -- The operator's name sealed under K_meta.
    label       BLOB NOT NULL,
    -- A custodians slot only: any `threshold` of its `shares` recover its secret. Public
    -- (`status` shows them) and bound into the slot's AAD, so the header MAC covers them.
    threshold   INTEGER CHECK (threshold BETWEEN 2 AND 255),
    shares      INTEGER CHECK (shares BETWEEN 2 AND 255 AND shares >= threshold),
    CHECK ((kind = 'custodians') = (threshold IS NOT NULL AND shares IS NOT NULL)),
    CHECK ((threshold IS NULL) = (shares IS NULL))
);

INSERT INTO keyslot_v7 (slot_id, kind, kdf_m_kib, kdf_t, kdf_p, weak_kdf, salt, wrapped_vmk,
                        label)
    SELECT slot_id, kind, kdf_m_kib, kdf_t, kdf_p, weak_kdf, salt, wrapped_vmk, label
    FROM keyslot;

DROP TABLE keyslot;

ALTER TABLE keyslot_v7 RENAME TO keyslot;
