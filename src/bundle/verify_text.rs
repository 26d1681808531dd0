//! `VERIFY.txt`: the instructions for checking and opening a bundle with stock tools, written
//! for a court clerk who has the bundle, the signer's fingerprint from the sender (on paper, by
//! phone) and, for a key seal, their private key.
//!
//! Decisions:
//! - Trust never comes from the bundle. The file does not even name the signer's fingerprint,
//!   so there is nothing to copy from it: the clerk types the one they were given, the first
//!   check compares it with the key the bundle carries, and only then writes the clerk's own
//!   `trusted_signers` file (outside the bundle's folder) that every `ssh-keygen -Y verify`
//!   uses. A re-signed bundle with a rewritten `VERIFY.txt` fails that first check.
//! - Commands are machine-readable without hurting a reader: each begins on a line whose text
//!   starts with `$ ` and goes on over lines starting with `> ` (as a shell shows them). The
//!   only placeholders are `EXPORT.tar`, `THE-FINGERPRINT-YOU-WERE-GIVEN` and `YOUR_KEY_FILE`.
//!   `tests/verify_txt.rs` runs them as written, with bash and stock tools.
//! - Every command runs from the folder that holds `EXPORT.tar` (sub-shells for `sha256sum
//!   -c`), so a clerk who loses their place can go on from any step.
//! - `ssh-keygen -l` is given a plain public key file (`ssh-keygen -l -f allowed_signers`
//!   fails on OpenSSH 9 because of the principal in front), and `-Y verify` needs OpenSSH 8.1
//!   or later.

use super::{
    APPROVAL_NAMESPACE, APPROVAL_SIGNERS, FORMAT, INNER_NAMESPACE, OUTER_NAMESPACE, PRINCIPAL,
    sig_name,
};

/// What opens a bundle's payload, as the writer sealed it. Says no more than the age header
/// itself shows (the kinds of its stanzas), never which keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealKind {
    /// To public keys: age X25519 (`age1…`) and/or OpenSSH `ssh-ed25519`.
    Keys { age: bool, ssh: bool },
    /// To one scrypt passphrase.
    Passphrase,
}

/// The placeholder for the signer's fingerprint, as the sender gave it out of band.
pub const FINGERPRINT_PLACEHOLDER: &str = "THE-FINGERPRINT-YOU-WERE-GIVEN";

/// The placeholder for the reader's private key file.
pub const KEY_FILE_PLACEHOLDER: &str = "YOUR_KEY_FILE";

/// Step 6, when operators' personal keys signed the manifest (`roles`, the exporter first):
/// their fingerprints, each signature, and that the keys differ.
fn approvals_step(roles: &[String]) -> String {
    if roles.is_empty() {
        return String::new();
    }
    let n = roles.len();
    let who = if n == 1 {
        "the operator who made this export".to_owned()
    } else {
        format!("the {n} operators who made and approved this export")
    };
    let checks: String = roles
        .iter()
        .map(|role| {
            format!(
                "    $ ssh-keygen -Y verify -f payload/{APPROVAL_SIGNERS} -I {role} -n {APPROVAL_NAMESPACE} -s payload/{} < payload/MANIFEST.json\n",
                sig_name(role)
            )
        })
        .collect();
    format!(
        "6. The operators who signed. Besides the vault's key, the personal keys of
   {who} signed payload/MANIFEST.json, which names them
   (\"approvals\"). Their keys are in payload/{APPROVAL_SIGNERS}, covered by
   the checksums step 5 checked. The second command prints each key's fingerprint:
   compare them with the operators' published keys if you have them (tvault
   operator key NAME prints one). Then each signature, and that the keys differ:

    $ cut -d' ' -f3,4 payload/{APPROVAL_SIGNERS} > operators.pub
    $ ssh-keygen -l -f operators.pub
{checks}    $ test \"$(sort -u operators.pub | wc -l | tr -d ' ')\" = {n} && echo \"operators: {n} different key(s) signed the manifest\"

"
    )
}

/// The instructions inside every bundle.
pub(super) fn verify_text(
    export_id: &str,
    seal: SealKind,
    approvals: &[String],
    timestamps: Option<&super::TimestampFiles>,
) -> String {
    let timestamp_step = timestamps.map(timestamp_step).unwrap_or_default();
    let fp = FINGERPRINT_PLACEHOLDER;
    let key = KEY_FILE_PLACEHOLDER;
    let verify = |namespace: &str, dir: &str, file: &str| {
        format!(
            "$ ssh-keygen -Y verify -f trusted_signers -I {PRINCIPAL} -n {namespace} -s {dir}/{file}.sig < {dir}/{file}"
        )
    };
    let only_listed = |dir: &str, tar: &str| {
        format!(
            "$ tar -tf {tar} | sort > {dir}.list
    $ (sed 's/^[0-9a-f]*  //' {dir}/SHA256SUMS; echo SHA256SUMS; echo SHA256SUMS.sig) | sort | diff - {dir}.list && echo \"{dir}: no other files\""
        )
    };
    let key_placeholder = match seal {
        SealKind::Keys { .. } => {
            format!("\n  {key}                    with your private key file (see step 5).")
        }
        SealKind::Passphrase => String::new(),
    };
    let (seal_words, decrypt, with_tvault) = match seal {
        SealKind::Keys { age, ssh } => {
            let kinds = match (age, ssh) {
                (true, true) => "age X25519 keys (age1…) and OpenSSH ssh-ed25519 keys",
                (false, true) => "an OpenSSH ssh-ed25519 key",
                _ => "an age X25519 key (age1…)",
            };
            (
                format!(
                    "This bundle is sealed to {kinds}: it opens with the matching\n   \
                     private key (an age identity file, or an unencrypted OpenSSH ed25519\n   \
                     private key), whose file name goes where {key} appears."
                ),
                format!("$ age -d -i {key} -o payload.tar bundle/payload.age"),
                format!("$ tvault verify-export EXPORT.tar --signer '{fp}' --identity {key}"),
            )
        }
        SealKind::Passphrase => (
            "This bundle is sealed with a passphrase (age's scrypt), which the sender\n   \
             gives you separately from the bundle: age asks for it, and so does tvault."
                .to_owned(),
            "$ age -d -o payload.tar bundle/payload.age".to_owned(),
            format!("$ tvault verify-export EXPORT.tar --signer '{fp}' --ask-export-passphrase"),
        ),
    };
    let with_tvault = if approvals.len() > 1 {
        format!("{with_tvault} --require-approvals {}", approvals.len())
    } else {
        with_tvault
    };
    let operators_step = approvals_step(approvals);
    let last = if approvals.is_empty() { 6 } else { 7 };
    let outer_sums = verify(OUTER_NAMESPACE, "bundle", "SHA256SUMS");
    let checkpoint = verify(OUTER_NAMESPACE, "bundle", "checkpoint.txt");
    let inner_sums = verify(INNER_NAMESPACE, "payload", "SHA256SUMS");
    let outer_only = only_listed("bundle", "EXPORT.tar");
    let inner_only = only_listed("payload", "payload.tar");
    format!(
        "tvault export {export_id}
Format: {FORMAT}

This bundle holds testimony sealed for its recipients and signed by the vault that
exported it. The steps below check, with stock tools only, that it is whole, that it
was signed by the key you expect, and that the sender logged the export; then they
open it. You need tar, sha256sum, sed, diff, ssh-keygen (OpenSSH 8.1 or later),
openssl, age (or rage) and a POSIX shell such as bash. The steps are the same for
every bundle of this format apart from the export id, the way it opens and how many
operators signed, and are published in docs/export-format.md of tvault: if the ones
below differ, stop.

HOW TO FOLLOW THEM
Put the bundle in a new, empty folder under the name EXPORT.tar, open a terminal in
that folder, and run the commands in order, in that one terminal. A command is a
line starting with \"$ \" (type or paste it without the \"$ \"); lines starting with
\"> \" continue it (paste them too, without the \"> \"). Replace:

  {fp}   with the signer's fingerprint (it starts with
                                   SHA256:) exactly as the sender gave it to you out
                                   of band: on paper, by phone, in person. Never
                                   from this bundle or the message it came with.{key_placeholder}

Each check prints what it confirmed (\"OK\", \"Good ... signature\", \"no other files\",
...). If a command prints an error, \"FAILED\", or nothing where a confirmation was
due, stop: do not rely on the bundle, and tell the sender.

1. Unpack the bundle into the folder \"bundle\":

    $ mkdir bundle && tar -xf EXPORT.tar -C bundle

2. The signer. bundle/allowed_signers names the key that signed the bundle, but
   anyone can put a key there. Accept it only if its fingerprint is the one you were
   given; then the third command writes your own file, trusted_signers, with that
   key alone, and every signature check below uses your file, not the bundle's:

    $ cut -d' ' -f3,4 bundle/allowed_signers > signer.pub
    $ ssh-keygen -l -f signer.pub
    $ test \"$(ssh-keygen -l -f signer.pub | cut -d' ' -f2)\" = '{fp}' && echo \"{PRINCIPAL} $(cat signer.pub)\" > trusted_signers && echo \"signer: the one you were given\"

   If you were given the whole public key (a line \"ssh-ed25519 AAAA...\") rather than
   its fingerprint, this prints the fingerprint to use (with your key in the quotes):

       echo 'ssh-ed25519 AAAA...' | ssh-keygen -l -f -

3. Whole and signed: the signature of the list of checksums, the checksums, and no
   file in the bundle that the signed list does not name:

    {outer_sums}
    $ (cd bundle && sha256sum -c SHA256SUMS)
    {outer_only}

4. The receipt. checkpoint.txt is the sender's custody log as it stood just after
   this export was logged there: how many entries it held, and one hash over all of
   them, signed by the same key. receipt.json proves that one of those entries is
   this export's intent (which says who exported which records, for what purpose,
   why, and to whom; it travels sealed, in payload/MANIFEST.json). So the export was
   logged before the bundle was written, and the sender cannot later present a log
   without it: keep checkpoint.txt and signer.pub, and ask the sender later for a
   proof that their log extends it (made by tvault audit prove --from
   checkpoint.txt, checked with tvault audit check-proof PROOF --signer signer.pub,
   which needs no vault). The first command checks the checkpoint's
   signature, the last prints where the entry stands; those between recompute the
   hash over the log from the receipt's entry (RFC 9162 inclusion proof):

    {checkpoint}
    $ test \"$(sed -n 2p bundle/checkpoint.txt)\" = \"$(sed -n 's/^  \"tree_size\": \\([0-9]*\\),$/\\1/p' bundle/receipt.json)\" && echo \"receipt: for this checkpoint\"
    $ i=$(sed -n 's/^  \"index\": \\([0-9]*\\),$/\\1/p' bundle/receipt.json)
    $ n=$(( $(sed -n 2p bundle/checkpoint.txt) - 1 ))
    $ h=$(sed -n 's/^  \"leaf_hash\": \"\\(.*\\)\",$/\\1/p' bundle/receipt.json)
    $ for p in $(sed -n '/\"proof\": \\[$/,/^  ]/p' bundle/receipt.json | grep -o '[A-Za-z0-9+/]\\{{43\\}}='); do
    >   if [ $((i % 2)) = 1 ] || [ $i = $n ]; then
    >     h=$( {{ printf '\\001'; echo $p | base64 -d; echo $h | base64 -d; }} | openssl dgst -sha256 -binary | base64)
    >     while [ $((i % 2)) = 0 ] && [ $i != 0 ]; do i=$((i / 2)); n=$((n / 2)); done
    >   else
    >     h=$( {{ printf '\\001'; echo $h | base64 -d; echo $p | base64 -d; }} | openssl dgst -sha256 -binary | base64)
    >   fi
    >   i=$((i / 2)); n=$((n / 2))
    > done
    $ test $n = 0 && test \"$h\" = \"$(sed -n 3p bundle/checkpoint.txt)\" && echo \"receipt: entry $(sed -n 's/^  \"index\": \\([0-9]*\\),$/\\1/p' bundle/receipt.json) of the signed log\"
{timestamp_step}
5. Open the payload.

   {seal_words}

   age releases data before it can tell that a file was cut short, so decrypt it
   whole to payload.tar first, then unpack it into \"payload\" and check it as in
   step 3, with its own signature:

    {decrypt}
    $ mkdir payload && tar -xf payload.tar -C payload
    {inner_sums}
    $ (cd payload && sha256sum -c SHA256SUMS)
    {inner_only}
    $ test \"$(grep -o '\"export_id\": \"[0-9a-f]*\"' bundle/receipt.json)\" = \"$(grep -o '\"export_id\": \"[0-9a-f]*\"' payload/MANIFEST.json)\" && echo \"manifest: this export\"

   payload/REPORT.html (open it in a web browser) summarises the export for a reader;
   payload/MANIFEST.json says the same for programs, with the intent event whose
   hash the receipt proved. Only tvault checks that this event is the receipt's
   entry (the last step); its other checks are the ones above.

{operators_step}{last}. With tvault installed, one command does all of the above and checks that the
   manifest's intent event is the entry the receipt proves (nothing is written):

    {with_tvault}
"
    )
}

/// Step 4b, for a bundle with trusted timestamps: the stock `openssl ts -verify` of each
/// token against the timestamped checkpoint, as at the token's time.
fn timestamp_step(t: &super::TimestampFiles) -> String {
    let dir = super::timestamps::DIR;
    let note = t.checkpoint_name();
    let size = t.tree_size;
    let untrusted = if t.certs_pem.is_empty() {
        String::new()
    } else {
        format!(" -untrusted bundle/{dir}/tsa-certs.pem")
    };
    let mut commands = String::new();
    for (i, (_, gen_time)) in t.tokens.iter().enumerate() {
        commands += &format!(
            "    $ openssl ts -verify -in bundle/{dir}/token-{}.tsr -data bundle/{note} -CAfile bundle/{dir}/tsa-ca.pem{untrusted} -attime {gen_time}\n",
            i + 1
        );
    }
    format!(
        "
4b. A trusted timestamp. bundle/{note} is an earlier checkpoint of the same
   log, with its first {size} entries; an independent timestamp authority signed its
   SHA-256 (bundle/{dir}/token-*.tsr, RFC 3161). So those entries, and everything
   they record, existed by the time in the token (openssl prints it with
   openssl ts -reply -in bundle/{dir}/token-1.tsr -text). It proves nothing about
   what the entries say, nor when each was made before that time; and you trust
   the authority, whose root certificate is bundle/{dir}/tsa-ca.pem: compare it
   with the one the authority publishes. -attime checks the authority's
   certificates as they stood at the token's own time (its value, seconds since
   1970, is that time), so a token stays checkable after the authority's
   certificate expires; without it openssl would use today's date. The first
   command checks that it is this log; each openssl line prints \"Verification: OK\":

    $ test \"$(sed -n 1p bundle/{note})\" = \"$(sed -n 1p bundle/checkpoint.txt)\" && echo \"timestamp: a checkpoint of this log, $(sed -n 2p bundle/{note}) entries\"
{commands}
   That this log of {size} entries is the start of the one in checkpoint.txt is
   proven by bundle/{dir}/consistency.json (RFC 9162), which tvault checks, with
   no vault, in the last step, and on its own with:
       tvault audit check-proof bundle/{dir}/consistency.json --signer signer.pub
"
    )
}
