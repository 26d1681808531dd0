-- tvault vault format 13: import memos (src/vault/import_memo.rs). For each bundle imported in
-- full, under a tag keyed by the vault (HMAC under K_memo of the bundle's signed outer sums),
-- the records it holds, sealed under K_meta: importing the same bundle again, with nothing
-- new, then checks the bundle's outer signatures and payload hash without decrypting it. A
-- cache: a memo that is missing or does not open costs one full import, never a wrong one.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.
CREATE TABLE import_memo (
    tag         BLOB PRIMARY KEY NOT NULL CHECK (length(tag) = 32),
    sealed      BLOB NOT NULL
);
