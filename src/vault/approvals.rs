//! Two-person rules: how many operators must sign an export, and checking the approvers who
//! do. The rule lives in the vault row, covered by the header MAC, and every change of it is
//! logged (`policy-changed`). While it asks for N operators, an export, a change of the rule,
//! adding or removing an operator, and a custodians split (K custodians can set any operator's
//! passphrase) need N-1 other operators, each proving it with their own passphrase, which
//! opens their own keyslot and personal key; a refusal is logged.

use ed25519_dalek::SigningKey;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::audit::Action;
use crate::crypto::{Passphrase, SlotKeys, SlotKind};
use crate::error::{ApprovalError, Error, Integrity, Result};
use crate::store;

use super::{Draft, Vault};

/// The most operators a rule may ask for.
pub const MAX_APPROVALS: u8 = 9;

/// Another operator who approves, with their passphrase.
pub struct Approver {
    pub name: String,
    pub passphrase: Passphrase,
}

/// What approvals are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    Export,
    Policy,
    OperatorAdd,
    OperatorRemove,
    CustodiansSplit,
}

impl Guarded {
    fn as_str(self) -> &'static str {
        match self {
            Guarded::Export => "export",
            Guarded::Policy => "policy set",
            Guarded::OperatorAdd => "operator add",
            Guarded::OperatorRemove => "operator remove",
            Guarded::CustodiansSplit => "custodians split",
        }
    }
}

/// An operator whose personal key signs: the one who unlocked first, then each approver.
pub(super) struct Signer {
    pub(super) operator: String,
    pub(super) key: SigningKey,
}

impl Signer {
    /// The signers as a bundle's manifest and the log name them.
    pub(super) fn approvals(signers: &[Signer]) -> Vec<crate::bundle::Approval> {
        signers
            .iter()
            .enumerate()
            .map(|(i, s)| crate::bundle::Approval {
                role: crate::bundle::role(i),
                operator: s.operator.clone(),
                key: crate::bundle::key_line(&s.key.verifying_key()),
            })
            .collect()
    }
}

/// What `policy set` did.
#[derive(Debug, Serialize)]
pub struct PolicyChange {
    pub rule: &'static str,
    pub from: u8,
    pub to: u8,
    /// The operators who approved the change, by name.
    pub approvers: Vec<String>,
}

impl Vault {
    /// How many operators must sign an export: 1 unless the vault's rule asks for more.
    pub fn export_approvals(&self) -> Result<u8> {
        Ok(store::export_approvals(self.store.conn())?.unwrap_or(1))
    }

    /// Sets how many operators must sign an export (1 to [`MAX_APPROVALS`]), with the
    /// approvals the rule in force needs. There must be that many operators.
    pub fn set_export_approvals(&mut self, to: u8, approvers: &[Approver]) -> Result<PolicyChange> {
        self.s.readable()?;
        if !(1..=MAX_APPROVALS).contains(&to) {
            return Err(ApprovalError::InvalidRule(to).into());
        }
        let from = self.export_approvals()?;
        let context = serde_json::json!({ "rule": "export-approvals", "from": from, "to": to });
        let signers = self.approve(Guarded::Policy, approvers, &context)?;
        let operators = self.passphrase_operators()?;
        if usize::from(to) > operators {
            return Err(ApprovalError::TooFewOperators {
                needed: to,
                operators,
            }
            .into());
        }
        let names: Vec<String> = signers.iter().skip(1).map(|s| s.operator.clone()).collect();
        if from != to {
            let tx = self.store.write()?;
            store::set_export_approvals(&tx, (to > 1).then_some(to))?;
            let cp = self.s.append(
                &tx,
                vec![Draft::new(Action::PolicyChanged).detail(serde_json::json!({
                    "rule": "export-approvals",
                    "from": from,
                    "to": to,
                    "approvals": Signer::approvals(&signers),
                }))],
            )?;
            tx.commit()?;
            self.s.write_anchor(&cp)?;
        }
        Ok(PolicyChange {
            rule: "export-approvals",
            from,
            to,
            approvers: names,
        })
    }

    /// The number of operators with a passphrase of their own (not the recovery code or the
    /// custodians).
    pub(super) fn passphrase_operators(&self) -> Result<usize> {
        Ok(store::keyslots(self.store.conn())?
            .iter()
            .filter(|s| s.kind == SlotKind::Passphrase)
            .count())
    }

    /// Checks `approvers` for `what` against the rule in force and returns the signers: the
    /// operator who unlocked (when they have a personal key), then each approver. With fewer
    /// than the rule needs, the operator who unlocked among them, a name twice, an unknown
    /// name or a wrong passphrase, logs the refusal (`export-refused` for an export,
    /// `approval-refused` otherwise, with `context`) and fails. Runs each approver's KDF.
    pub(super) fn approve(
        &mut self,
        what: Guarded,
        approvers: &[Approver],
        context: &serde_json::Value,
    ) -> Result<Vec<Signer>> {
        let required = self.export_approvals()?;
        match self.check_approvers(required, approvers) {
            Ok(signers) => Ok(signers),
            Err(Error::Approval(why)) => {
                let action = match what {
                    Guarded::Export => Action::ExportRefused,
                    _ => Action::ApprovalRefused,
                };
                self.record(vec![Draft::new(action).detail(serde_json::json!({
                    "for": what.as_str(),
                    "why": why.to_string(),
                    "approvals_required": required,
                    "approvers": approvers.iter().map(|a| &a.name).collect::<Vec<_>>(),
                    "request": context,
                }))])?;
                Err(Error::Approval(why))
            }
            Err(other) => Err(other),
        }
    }

    fn check_approvers(&self, required: u8, approvers: &[Approver]) -> Result<Vec<Signer>> {
        let mut signers = Vec::new();
        match &self.s.operator_signing {
            Some(key) => signers.push(Signer {
                operator: self.s.operator.clone(),
                key: key.clone(),
            }),
            None if required > 1 || !approvers.is_empty() => {
                return Err(ApprovalError::NoPersonalKey.into());
            }
            None => {}
        }
        let needed = usize::from(required) - 1;
        if approvers.len() < needed {
            return Err(ApprovalError::Missing {
                required,
                given: approvers.len() + 1,
            }
            .into());
        }
        if approvers.is_empty() {
            return Ok(signers);
        }
        let vault_id = self.s.vault_id;
        let slots = store::keyslots(self.store.conn())?;
        for approver in approvers {
            if approver.name == self.s.operator {
                return Err(ApprovalError::Oneself.into());
            }
            if signers.iter().any(|s| s.operator == approver.name) {
                return Err(ApprovalError::Twice.into());
            }
            let slot = slots
                .iter()
                .filter(|s| s.kind == SlotKind::Passphrase)
                .find(|s| {
                    s.label(&vault_id, &self.s.keys).as_deref() == Some(approver.name.as_str())
                })
                .ok_or(ApprovalError::Unknown)?;
            if slot.slot_id == self.s.slot_id {
                return Err(ApprovalError::Oneself.into());
            }
            let Some(SlotKeys { vmk, kek }) = slot.unlock(&vault_id, &approver.passphrase)? else {
                return Err(ApprovalError::WrongPassphrase.into());
            };
            // The header MAC covers every slot, so another master key here means tampering.
            let same = vmk.expose_secret().ct_eq(self.s.keys.vmk.expose_secret());
            if !bool::from(same) {
                return Err(Integrity::HeaderMac.into());
            }
            let key = match slot.operator_key(&vault_id, &kek) {
                Some(Some(key)) => key,
                Some(None) => return Err(ApprovalError::ApproverHasNoKey.into()),
                None => return Err(Integrity::HeaderMac.into()),
            };
            if signers
                .iter()
                .any(|s| s.key.verifying_key() == key.verifying_key())
            {
                return Err(ApprovalError::Twice.into());
            }
            signers.push(Signer {
                operator: approver.name.clone(),
                key,
            });
        }
        Ok(signers)
    }
}
