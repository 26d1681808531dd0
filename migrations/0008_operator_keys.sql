-- tvault vault format 8: operators sign for themselves.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- An operator's personal Ed25519 key: the public half in plaintext (anyone may check an
-- event's signature; status shows it), the secret sealed under a key derived from that
-- operator's own passphrase, not the master key. Both NULL for recovery and custodians slots,
-- and until an operator of an older vault next unlocks. Covered by the header MAC.
ALTER TABLE keyslot ADD COLUMN operator_public BLOB
    CHECK (operator_public IS NULL OR length(operator_public) = 32);
ALTER TABLE keyslot ADD COLUMN operator_secret BLOB;
