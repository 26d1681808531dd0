//! Argon2id: the deliberate cost of unlocking, its bounds and its calibration.
//!
//! Parameters are stored per keyslot in plaintext (they must be known before unlocking), so
//! they are untrusted input: [`KdfParams::check_bounds`] refuses absurd values before anything
//! is allocated. The working memory is zeroized after use.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroizing;

use super::{Key, Passphrase};
use crate::{Error, Integrity, Result};

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes, computed on threads where the machine has cores for them.
    pub p: u32,
}

/// The most memory a stored keyslot may ask for: 4 GiB.
pub const MAX_M_KIB: u32 = 4 * 1024 * 1024;
pub const MAX_T: u32 = 16;
pub const MAX_P: u32 = 16;

/// The floor below which parameters are weak: 256 MiB of memory and 768 MiB × passes.
pub const FLOOR_M_MIB: u64 = 256;
pub const FLOOR_M_T_MIB: u64 = 768;

/// The most memory calibration chooses: 1 GiB.
pub const CALIBRATED_MAX_M_MIB: u64 = 1024;

impl KdfParams {
    pub fn memory_mib(&self) -> u64 {
        u64::from(self.m_kib) / 1024
    }

    /// Weaker than the floor that `init` enforces without `--allow-weak-kdf`.
    pub fn is_weak(&self) -> bool {
        let m = u64::from(self.m_kib) / 1024;
        m < FLOOR_M_MIB || m * u64::from(self.t) < FLOOR_M_T_MIB
    }

    /// Refuses parameters a stored keyslot must never make us run. Checked before allocating.
    pub fn check_bounds(&self) -> Result<()> {
        let ok = (1..=MAX_P).contains(&self.p)
            && (1..=MAX_T).contains(&self.t)
            && self.m_kib <= MAX_M_KIB
            && self.m_kib >= 8 * self.p;
        if ok {
            Ok(())
        } else {
            Err(Error::Integrity(Integrity::KdfOutOfBounds))
        }
    }

    /// Parameters given on the command line, in MiB. Unset values take the defaults a
    /// calibrated vault would use, and passes are raised to meet the floor when only the
    /// memory was given.
    pub fn from_flags(
        m_mib: Option<u32>,
        t: Option<u32>,
        p: Option<u32>,
        cores: u32,
    ) -> Result<Self> {
        let m_mib = m_mib.unwrap_or(CALIBRATED_MAX_M_MIB as u32);
        if m_mib == 0 {
            return Err(Error::InvalidKdf("memory must be at least 1 MiB"));
        }
        let t = t.unwrap_or_else(|| FLOOR_M_T_MIB.div_ceil(u64::from(m_mib)).max(1) as u32);
        let p = p.unwrap_or_else(|| default_lanes(cores));
        let params = KdfParams {
            m_kib: m_mib
                .checked_mul(1024)
                .ok_or(Error::InvalidKdf("memory above 4 GiB"))?,
            t,
            p,
        };
        if params.m_kib > MAX_M_KIB {
            return Err(Error::InvalidKdf("memory above 4 GiB"));
        }
        if !(1..=MAX_T).contains(&t) {
            return Err(Error::InvalidKdf("iterations must be 1 to 16"));
        }
        if !(1..=MAX_P).contains(&p) {
            return Err(Error::InvalidKdf("parallelism must be 1 to 16"));
        }
        params.check_bounds()?;
        Ok(params)
    }

    /// Chooses parameters that take about `target` on this machine: 1 GiB of memory when
    /// `available_mib` allows twice that and one pass fits in twice the target, never below
    /// the floor, from a measured 64 MiB run.
    pub fn calibrate(available_mib: u64, cores: u32, target: Duration) -> Result<Self> {
        let p = default_lanes(cores);
        let probe = KdfParams {
            m_kib: 64 * 1024,
            t: 1,
            p,
        };
        let dummy = Passphrase(Zeroizing::new(b"calibration".to_vec()));
        let start = Instant::now();
        derive(&dummy, &[0u8; 32], &probe)?;
        let mib_per_sec = 64.0 / start.elapsed().as_secs_f64().max(1e-6);
        let budget = ((mib_per_sec * target.as_secs_f64()) as u64).max(FLOOR_M_T_MIB);
        let max_m = (available_mib / 2).clamp(FLOOR_M_MIB, CALIBRATED_MAX_M_MIB);
        // Prefer the most memory (it is what makes guessing expensive on GPUs) as long as one
        // pass over it stays within twice the target time; then add passes to fill the budget.
        let (m, t) = if max_m as f64 / mib_per_sec <= 2.0 * target.as_secs_f64() {
            (
                max_m,
                (budget as f64 / max_m as f64).round().max(1.0) as u64,
            )
        } else {
            (budget.min(max_m), 1)
        };
        // The floor wins over the time target on a slow machine.
        let t = t.max(FLOOR_M_T_MIB.div_ceil(m)).min(u64::from(MAX_T));
        Ok(KdfParams {
            m_kib: (m * 1024) as u32,
            t: t as u32,
            p,
        })
    }
}

fn default_lanes(cores: u32) -> u32 {
    cores.clamp(1, 4)
}

/// Derives a 256-bit key from a passphrase. The caller has checked the bounds.
pub fn derive(passphrase: &Passphrase, salt: &[u8], params: &KdfParams) -> Result<Key> {
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|_| Error::Integrity(Integrity::KdfOutOfBounds))?;
    let blocks = argon_params.block_count();
    let mut memory: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
    memory
        .try_reserve_exact(blocks)
        .map_err(|_| Error::KdfMemory {
            mib: u64::from(params.m_kib) / 1024,
        })?;
    memory.resize(blocks, Block::default());
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into_with_memory(
            passphrase.expose_secret(),
            salt,
            out.as_mut(),
            &mut *memory,
        )
        .map_err(|_| Error::Integrity(Integrity::KdfOutOfBounds))?;
    Ok(Key::from_fn(|k| k.copy_from_slice(out.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_parameters_are_refused_before_allocation() {
        for (m_kib, t, p) in [
            (u32::MAX, 1, 1),
            (MAX_M_KIB + 1, 1, 1),
            (1024, 0, 1),
            (1024, 17, 1),
            (1024, 1, 0),
            (1024, 1, 17),
            (8, 1, 2),
        ] {
            let params = KdfParams { m_kib, t, p };
            assert!(params.check_bounds().is_err(), "{params:?}");
        }
        assert!(
            KdfParams {
                m_kib: MAX_M_KIB,
                t: 16,
                p: 16
            }
            .check_bounds()
            .is_ok()
        );
    }

    #[test]
    fn the_floor_is_256_mib_and_768_mib_times_passes() {
        let p = |m_mib: u32, t| KdfParams {
            m_kib: m_mib * 1024,
            t,
            p: 1,
        };
        assert!(p(128, 8).is_weak());
        assert!(p(256, 2).is_weak());
        assert!(!p(256, 3).is_weak());
        assert!(!p(768, 1).is_weak());
        assert!(!p(1024, 1).is_weak());
    }

    #[test]
    fn flags_fill_in_passes_to_meet_the_floor() {
        let k = KdfParams::from_flags(Some(256), None, Some(1), 2).unwrap();
        assert_eq!((k.m_kib, k.t), (256 * 1024, 3));
        assert!(!k.is_weak());
        let k = KdfParams::from_flags(Some(8), Some(1), None, 2).unwrap();
        assert!(k.is_weak());
        assert!(KdfParams::from_flags(Some(0), None, None, 2).is_err());
        assert!(KdfParams::from_flags(Some(5000), None, None, 2).is_err());
        assert!(KdfParams::from_flags(Some(8), Some(99), None, 2).is_err());
    }

    #[test]
    fn derivation_depends_on_every_input() {
        let pass = |s: &str| Passphrase::from_bytes(Zeroizing::new(s.as_bytes().to_vec())).unwrap();
        let params = KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        };
        let a = derive(&pass("one"), &[1; 32], &params).unwrap();
        let b = derive(&pass("one"), &[1; 32], &params).unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        let c = derive(&pass("two"), &[1; 32], &params).unwrap();
        let d = derive(&pass("one"), &[2; 32], &params).unwrap();
        let e = derive(&pass("one"), &[1; 32], &KdfParams { t: 2, ..params }).unwrap();
        for other in [c, d, e] {
            assert_ne!(a.expose_secret(), other.expose_secret());
        }
    }
}
