-- tvault vault format 9: two-person exports.
-- Never edit a shipped migration; SECURITY.md lists every plaintext column.

-- How many operators must sign an export (the exporter and approvers): NULL for one, the
-- default. Plaintext, so `status` can show it without a passphrase; covered by the header MAC
-- when set, so nobody without the master key can lower, raise or remove it.
ALTER TABLE vault ADD COLUMN export_approvals INTEGER
    CHECK (export_approvals IS NULL OR export_approvals BETWEEN 2 AND 9);
