//! The header MAC: what binds the keyslots, the signing key, the custody log's state, the
//! heads and (format 6) the field kit columns to the vault's keys, so that none of them can
//! be edited, removed or replayed from an older copy without the passphrase.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Keyslot, VaultKeys, aad};

/// What the header MAC covers besides the keyslots (format 5 on): the custody log's state.
pub struct HeaderState<'a> {
    /// The signing key's public half, and its earlier rotations as stored.
    pub signing_public: &'a [u8],
    pub signing_rotations: &'a [u8],
    /// The latest signed checkpoint note.
    pub checkpoint: &'a str,
    /// An anchor was written for this vault.
    pub anchored: bool,
    /// [`crate::heads::root`] of the stored heads.
    pub heads_root: [u8; 32],
    /// On a field kit, its sealed description of headquarters (format 6).
    pub kit: Option<&'a [u8]>,
    /// At headquarters, a hash of every stored field kit row, when there is any (format 6).
    pub kits_root: Option<[u8; 32]>,
    /// How many operators must sign an export, when more than one (format 9).
    pub export_approvals: Option<u8>,
}

/// The MAC over the vault header and every keyslot, in slot-id order. Adding, removing or
/// editing a slot (or swapping the vault id) changes it. With `state` (version 2, every vault
/// since format 5), it also covers the signing key, the latest checkpoint, the anchored flag
/// and the heads, so none of them can be removed, reset or replayed from another copy without
/// the key. Version 1 (`state` is `None`) is only read, to upgrade an older vault.
pub fn header_mac(
    keys: &VaultKeys,
    vault_id: &[u8; 16],
    slots: &[Keyslot],
    state: Option<&HeaderState<'_>>,
) -> [u8; 32] {
    let mut sorted: Vec<&Keyslot> = slots.iter().collect();
    sorted.sort_by_key(|s| s.slot_id);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keys.hdr.expose_secret())
        .expect("HMAC takes any key length");
    match state {
        None => mac.update(&aad("tvault header v1", &[vault_id])),
        Some(_) => mac.update(&aad("tvault header v2", &[vault_id])),
    }
    for s in sorted {
        mac.update(&s.wrap_aad(vault_id));
        mac.update(&aad("slot", &[&s.wrapped, &s.label]));
        // Covered only when present, so the MAC of a vault without personal keys is what
        // it was.
        if let Some(k) = &s.operator_key {
            mac.update(&aad("operator key", &[&k.public, &k.sealed]));
        }
    }
    if let Some(state) = state {
        mac.update(&aad(
            "state",
            &[
                state.signing_public,
                state.signing_rotations,
                state.checkpoint.as_bytes(),
                &[u8::from(state.anchored)],
                &state.heads_root,
            ],
        ));
        // Covered only when present, so the MAC of a vault without kits is what it was.
        if let Some(kit) = state.kit {
            mac.update(&aad("kit", &[kit]));
        }
        if let Some(root) = &state.kits_root {
            mac.update(&aad("field kits", &[root]));
        }
        // Covered only when set, so the MAC of a vault without the rule is what it was.
        if let Some(n) = state.export_approvals {
            mac.update(&aad("export approvals", &[&[n]]));
        }
    }
    mac.finalize().into_bytes().into()
}

/// Checks a stored header MAC in constant time.
pub fn verify_header_mac(
    keys: &VaultKeys,
    vault_id: &[u8; 16],
    slots: &[Keyslot],
    state: Option<&HeaderState<'_>>,
    stored: &[u8],
) -> bool {
    use subtle::ConstantTimeEq;
    let expected = header_mac(keys, vault_id, slots, state);
    stored.len() == expected.len() && bool::from(expected.ct_eq(stored))
}
