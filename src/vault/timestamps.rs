//! Trusted timestamps (RFC 3161) of the vault's checkpoints: requests that travel as files,
//! responses checked and kept, and their re-checking at `verify` and at export.
//!
//! Both the pending requests and the tokens are sealed under K_meta, bound to the vault and
//! their row (a token's time tells when the vault was in use, and its authority whom the
//! operator trusts). Each token is named by its SHA-256 in its `timestamp-added` event, so
//! `verify` finds a row removed or restored from elsewhere; each token is checked again,
//! whenever it is used, against the checkpoint note it covers (signed by the vault's key, a
//! prefix of the log) and the authority certificates it was accepted with.

use std::collections::BTreeSet;

use der::EncodePem;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::audit::timestamp::{self, TimestampError, TokenInfo};
use crate::audit::{self, Action, Checkpoint, Event};
use crate::crypto;
use crate::error::{Error, Integrity, Result};
use crate::store::{self, TimestampTable};

use super::session::Session;
use super::{Draft, Vault, signing_keys};

/// A request made by [`Vault::timestamp_request`].
pub struct TimestampRequest {
    /// The DER `TimeStampReq`, to write to a `.tsq` file.
    pub der: Vec<u8>,
    /// The request's id (32 hex digits), as the log names it.
    pub id: String,
    /// The size of the log the checkpoint it covers signs.
    pub tree_size: u64,
}

/// A stored token, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Timestamp {
    pub request: String,
    pub tree_size: u64,
    pub time: String,
    pub authority: String,
    pub policy: String,
    pub serial: String,
    /// SHA-256 of the response as received (hex), as its `timestamp-added` event names it.
    pub token_sha256: String,
    /// When the authority's certificate stops (or stopped) being valid.
    pub certificate_not_after: String,
    /// Whether that is before now: the token still holds, checked at its own time.
    pub certificate_expired: bool,
}

/// A pending request, sealed.
#[derive(Serialize, Deserialize)]
struct Pending {
    tree_size: u64,
    note: String,
    imprint: String,
    nonce: String,
    requested_at: String,
}

/// A stored token, sealed.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredToken {
    pub(super) request: String,
    pub(super) tree_size: u64,
    pub(super) note: String,
    /// The response as received, base64.
    pub(super) response: String,
    /// The trusted authority certificates it was accepted with (PEM).
    pub(super) ca: String,
    /// Other certificates given with `--tsa-cert` (PEM; often empty).
    pub(super) certs: String,
}

impl StoredToken {
    pub(super) fn response_der(&self) -> Result<Vec<u8>> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.response)
            .map_err(|_| Integrity::Log("a stored timestamp cannot be read".into()).into())
    }

    /// Checks the token against its note, the vault's keys and the log's leaves; returns
    /// its facts.
    pub(super) fn check(
        &self,
        keys: &[ed25519_dalek::VerifyingKey],
        leaves: &[audit::Hash],
    ) -> std::result::Result<TokenInfo, String> {
        let cp = keys
            .iter()
            .find_map(|k| Checkpoint::verify(&self.note, k).ok())
            .ok_or("its checkpoint is not signed by the vault's key")?;
        if cp.size != self.tree_size
            || cp.size as usize > leaves.len()
            || audit::root(&leaves[..cp.size as usize]) != cp.root
        {
            return Err("its checkpoint is not a prefix of the custody log".into());
        }
        let parse = |pem: &str| {
            if pem.is_empty() {
                Ok(Vec::new())
            } else {
                timestamp::parse_certificates(pem.as_bytes())
            }
        };
        let ca = parse(&self.ca).map_err(|_| "its authority certificates cannot be read")?;
        let certs = parse(&self.certs).map_err(|_| "its certificates cannot be read")?;
        let der = self.response_der().map_err(|e| e.to_string())?;
        let info = timestamp::verify_response(&der, &certs, &ca).map_err(|e| e.to_string())?;
        if info.imprint != timestamp::imprint(&self.note) {
            return Err("it does not cover its checkpoint".into());
        }
        Ok(info)
    }
}

fn request_aad(vault_id: &[u8; 16], id: &[u8; 16]) -> Vec<u8> {
    crypto::aad("tvault timestamp request v1", &[vault_id, id])
}

fn token_aad(vault_id: &[u8; 16], id: &[u8; 16]) -> Vec<u8> {
    crypto::aad("tvault timestamp token v1", &[vault_id, id])
}

fn pem(certs: &[Certificate]) -> String {
    certs
        .iter()
        .filter_map(|c| c.to_pem(der::pem::LineEnding::LF).ok())
        .collect()
}

impl Session {
    fn open_pending(&self, id: &[u8; 16], sealed: &[u8]) -> Result<Pending> {
        let json = crypto::open_padded(&self.keys.meta, &request_aad(&self.vault_id, id), sealed)
            .ok_or_else(|| {
            Integrity::Log("a pending timestamp request does not authenticate".into())
        })?;
        serde_json::from_slice(&json)
            .map_err(|_| Integrity::Log("a pending timestamp request cannot be read".into()).into())
    }

    pub(super) fn open_token(&self, id: &[u8; 16], sealed: &[u8]) -> Result<StoredToken> {
        let json = crypto::open_padded(&self.keys.meta, &token_aad(&self.vault_id, id), sealed)
            .ok_or_else(|| Integrity::Log("a stored timestamp does not authenticate".into()))?;
        serde_json::from_slice(&json)
            .map_err(|_| Integrity::Log("a stored timestamp cannot be read".into()).into())
    }

    /// Re-seals every timestamp row for `next`'s keys (rekey).
    pub(super) fn reseal_timestamps(
        &self,
        next: &Session,
        conn: &rusqlite::Connection,
    ) -> Result<()> {
        for (table, aad) in [
            (
                TimestampTable::Request,
                request_aad as fn(&[u8; 16], &[u8; 16]) -> Vec<u8>,
            ),
            (TimestampTable::Token, token_aad),
        ] {
            for (id, sealed) in store::timestamps(conn, table)? {
                let aad = aad(&self.vault_id, &id);
                let json =
                    crypto::open_padded(&self.keys.meta, &aad, &sealed).ok_or_else(|| {
                        Integrity::Log("a timestamp row does not authenticate".into())
                    })?;
                store::set_timestamp(
                    conn,
                    table,
                    &id,
                    &crypto::seal_padded(&next.keys.meta, &aad, &json),
                )?;
            }
        }
        Ok(())
    }
}

fn to_timestamp(token: &StoredToken, info: &TokenInfo, sha256: String) -> Timestamp {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Timestamp {
        request: token.request.clone(),
        tree_size: token.tree_size,
        time: info.time.clone(),
        authority: info.authority.clone(),
        policy: info.policy.clone(),
        serial: info.serial.clone(),
        token_sha256: sha256,
        certificate_not_after: timestamp::rfc3339(info.signer_not_after),
        certificate_expired: info.signer_not_after < now,
    }
}

impl Vault {
    /// Makes a timestamp request for the current signed checkpoint, keeps that checkpoint
    /// and the request's nonce (sealed), and logs `timestamp-requested`.
    pub fn timestamp_request(&mut self) -> Result<TimestampRequest> {
        let tx = self.store.write()?;
        let stored =
            store::checkpoint(&tx)?.ok_or_else(|| Integrity::Log("no checkpoint".into()))?;
        let id = crypto::random_array::<16>();
        let request = timestamp::request(&stored.note, crypto::random_array::<8>());
        let pending = Pending {
            tree_size: stored.size,
            note: stored.note.clone(),
            imprint: hex::encode(request.imprint),
            nonce: hex::encode(&request.nonce),
            requested_at: super::now_rfc3339(),
        };
        let json = serde_json::to_vec(&pending).expect("requests serialise");
        store::insert_timestamp(
            &tx,
            TimestampTable::Request,
            &id,
            &crypto::seal_padded(
                &self.s.keys.meta,
                &request_aad(&self.s.vault_id, &id),
                &json,
            ),
        )?;
        let cp = self.s.append(
            &tx,
            vec![
                Draft::new(Action::TimestampRequested).detail(serde_json::json!({
                    "request": hex::encode(id),
                    "tree_size": stored.size,
                    "imprint": pending.imprint,
                })),
            ],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(TimestampRequest {
            der: request.der,
            id: hex::encode(id),
            tree_size: stored.size,
        })
    }

    /// Checks a response against the pending requests, the authority's certificate chain
    /// (to `ca`, PEM; or, when `None`, the authorities of the newest stored token) at the
    /// token's time, and its signature; stores it, drops the request, and logs
    /// `timestamp-added`. Nothing is stored or logged when a check fails.
    pub fn timestamp_add(
        &mut self,
        response: &[u8],
        tsa_certs: &[Certificate],
        ca: Option<&[Certificate]>,
    ) -> Result<Timestamp> {
        let tx = self.store.write()?;
        let anchors: Vec<Certificate> = match ca {
            Some(ca) => ca.to_vec(),
            None => {
                let newest = store::timestamps(&tx, TimestampTable::Token)?
                    .into_iter()
                    .map(|(id, sealed)| self.s.open_token(&id, &sealed))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .max_by_key(|t| t.tree_size);
                match newest {
                    Some(t) => timestamp::parse_certificates(t.ca.as_bytes())
                        .map_err(|_| Integrity::Log("a stored timestamp cannot be read".into()))?,
                    None => return Err(Error::TimestampCaNeeded),
                }
            }
        };
        let info = timestamp::verify_response(response, tsa_certs, &anchors)?;
        let mut found = None;
        let mut nonce_mismatch = false;
        for (id, sealed) in store::timestamps(&tx, TimestampTable::Request)? {
            let pending = self.s.open_pending(&id, &sealed)?;
            let nonce = hex::decode(&pending.nonce)
                .map_err(|_| Integrity::Log("a pending timestamp request cannot be read".into()))?;
            if hex::encode(info.imprint) != pending.imprint {
                continue;
            }
            match timestamp::matches_request(&info, &info.imprint, &nonce, None) {
                Ok(()) => {
                    found = Some((id, pending));
                    break;
                }
                Err(_) => nonce_mismatch = true,
            }
        }
        let Some((request_id, pending)) = found else {
            return Err(if nonce_mismatch {
                TimestampError::Nonce
            } else {
                TimestampError::OtherRequest
            }
            .into());
        };
        let token = StoredToken {
            request: hex::encode(request_id),
            tree_size: pending.tree_size,
            note: pending.note,
            response: {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(response)
            },
            ca: pem(&anchors),
            certs: pem(tsa_certs),
        };
        let sha256 = hex::encode(Sha256::digest(response));
        let token_id = crypto::random_array::<16>();
        let json = serde_json::to_vec(&token).expect("tokens serialise");
        store::insert_timestamp(
            &tx,
            TimestampTable::Token,
            &token_id,
            &crypto::seal_padded(
                &self.s.keys.meta,
                &token_aad(&self.s.vault_id, &token_id),
                &json,
            ),
        )?;
        store::delete_timestamp(&tx, TimestampTable::Request, &request_id)?;
        let cp = self.s.append(
            &tx,
            vec![
                Draft::new(Action::TimestampAdded).detail(serde_json::json!({
                    "request": token.request,
                    "tree_size": token.tree_size,
                    "token_sha256": sha256,
                    "time": info.time,
                    "authority": info.authority,
                    "policy": info.policy,
                    "serial": info.serial,
                })),
            ],
        )?;
        tx.commit()?;
        self.s.write_anchor(&cp)?;
        Ok(to_timestamp(&token, &info, sha256))
    }

    /// Every stored token, each checked again; logs `timestamps-listed`. A token that no
    /// longer checks out is an integrity failure.
    pub fn timestamps(&mut self) -> Result<Vec<Timestamp>> {
        self.record(vec![Draft::new(Action::TimestampsListed)])?;
        let conn = self.store.conn();
        let (keys, _) = signing_keys(conn)?;
        let leaves = store::leaf_hashes(conn, u64::MAX >> 1)?;
        let mut out = Vec::new();
        for (id, sealed) in store::timestamps(conn, TimestampTable::Token)? {
            let token = self.s.open_token(&id, &sealed)?;
            let info = token
                .check(&keys, &leaves)
                .map_err(|e| Integrity::Log(format!("a stored timestamp: {e}")))?;
            let sha256 = hex::encode(Sha256::digest(token.response_der()?));
            out.push(to_timestamp(&token, &info, sha256));
        }
        out.sort_by(|a, b| (a.tree_size, &a.time).cmp(&(b.tree_size, &b.time)));
        Ok(out)
    }
}

impl Session {
    /// The bundle's `timestamps/` files: the tokens of the newest timestamped checkpoint at
    /// or before the receipt's (`note`), each checked again, with a consistency proof from
    /// it to the receipt's checkpoint. `None` when no such token is stored.
    pub(super) fn export_timestamps(
        &self,
        conn: &rusqlite::Connection,
        note: &str,
        receipt: &crate::bundle::Receipt,
    ) -> Result<Option<crate::bundle::TimestampFiles>> {
        let tokens = self.timestamps_for_export(conn, receipt.tree_size)?;
        let Some(first) = tokens.first() else {
            return Ok(None);
        };
        let leaves = store::leaf_hashes(conn, u64::MAX >> 1)?;
        let (keys, _) = signing_keys(conn)?;
        let mut ca = Vec::new();
        let mut certs = Vec::new();
        let mut files = Vec::new();
        for t in &tokens {
            let info = t
                .check(&keys, &leaves)
                .map_err(|e| Integrity::Log(format!("a stored timestamp: {e}")))?;
            files.push((t.response_der()?, info.gen_time));
            for (pem, into) in [(&t.ca, &mut ca), (&t.certs, &mut certs)] {
                if !pem.is_empty() {
                    for c in timestamp::parse_certificates(pem.as_bytes())
                        .map_err(|_| Integrity::Log("a stored timestamp cannot be read".into()))?
                    {
                        if !into.contains(&c) {
                            into.push(c);
                        }
                    }
                }
            }
        }
        files.sort_by_key(|(_, t)| *t);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let proof = audit::ConsistencyProof {
            format: audit::ConsistencyProof::FORMAT.into(),
            old_checkpoint: first.note.clone(),
            new_checkpoint: note.to_owned(),
            proof: audit::consistency_proof(
                first.tree_size as usize,
                &leaves[..receipt.tree_size as usize],
            )
            .iter()
            .map(|h| b64.encode(h))
            .collect(),
            rotations: receipt.rotations.clone(),
        };
        Ok(Some(crate::bundle::TimestampFiles {
            tree_size: first.tree_size,
            checkpoint: first.note.clone(),
            tokens: files,
            ca_pem: pem(&ca),
            certs_pem: pem(&certs),
            consistency: serde_json::to_string_pretty(&proof).expect("proofs serialise") + "\n",
        }))
    }

    /// The tokens for the newest timestamped checkpoint of at most `tree_size` events, each
    /// checked again (export).
    fn timestamps_for_export(
        &self,
        conn: &rusqlite::Connection,
        tree_size: u64,
    ) -> Result<Vec<StoredToken>> {
        let (keys, _) = signing_keys(conn)?;
        let leaves = store::leaf_hashes(conn, u64::MAX >> 1)?;
        let mut tokens = Vec::new();
        for (id, sealed) in store::timestamps(conn, TimestampTable::Token)? {
            let token = self.open_token(&id, &sealed)?;
            if token.tree_size <= tree_size {
                token
                    .check(&keys, &leaves)
                    .map_err(|e| Integrity::Log(format!("a stored timestamp: {e}")))?;
                tokens.push(token);
            }
        }
        let Some(newest) = tokens.iter().map(|t| t.tree_size).max() else {
            return Ok(Vec::new());
        };
        tokens.retain(|t| t.tree_size == newest);
        Ok(tokens)
    }
}

/// `verify`'s findings about timestamps: every stored token checks out against its
/// checkpoint, and the tokens stored are exactly those the log added.
pub(super) fn timestamp_failures(
    s: &Session,
    conn: &rusqlite::Connection,
    leaves: &[audit::Hash],
    events: &[Event],
) -> Result<Vec<String>> {
    let mut failures = Vec::new();
    let (keys, _) = signing_keys(conn)?;
    let mut stored = BTreeSet::new();
    for (id, sealed) in store::timestamps(conn, TimestampTable::Token)? {
        match s.open_token(&id, &sealed) {
            Ok(token) => {
                if let Err(e) = token.check(&keys, leaves) {
                    failures.push(format!(
                        "the timestamp of checkpoint {}: {e}",
                        token.tree_size
                    ));
                }
                if let Ok(der) = token.response_der() {
                    stored.insert(hex::encode(Sha256::digest(der)));
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let logged: BTreeSet<String> = events
        .iter()
        .filter(|e| e.action == Action::TimestampAdded)
        .filter_map(|e| {
            e.detail.as_ref()?["token_sha256"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    for missing in logged.difference(&stored) {
        failures.push(format!(
            "the timestamp {missing} is in the custody log but missing from the vault"
        ));
    }
    for extra in stored.difference(&logged) {
        failures.push(format!(
            "the timestamp {extra} is in the vault but no event of the custody log added it"
        ));
    }
    Ok(failures)
}
