//! Process hardening, done first thing: no core dumps (they would hold keys and testimony),
//! not dumpable or ptrace-attachable by other processes of the same user, and every file
//! created private.

use rustix::fs::Mode;
use rustix::process::{Resource, Rlimit, setrlimit, umask};

pub fn harden_process() {
    // Each step is best effort: a platform without it still runs, with the rest in place.
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    umask(Mode::from_raw_mode(0o077));
}
