//! `VERIFY.txt`: the instructions for checking a bundle with stock tools.

use super::{FORMAT, INNER_NAMESPACE, OUTER_NAMESPACE, PRINCIPAL};

/// The instructions inside every bundle.
pub(super) fn verify_text(fingerprint: &str, export_id: &str) -> String {
    format!(
        "tvault export {export_id}
Format: {FORMAT} (see docs/export-format.md in tvault's source).

1. Compare the signer's fingerprint with the one you were given out of band
   (on paper, by phone, on the organisation's web site):

       {fingerprint}

   wc -l < allowed_signers                                # must print 1
   cut -d' ' -f3- allowed_signers | ssh-keygen -l -f -   # the fingerprint of the key in it

   allowed_signers must be that one line, with that fingerprint: a bundle whose
   allowed_signers lists more than one key or principal is not to be trusted.

2. Unpack this bundle into an empty folder and check it:

       mkdir bundle && tar -xf EXPORT.tar -C bundle && cd bundle
       sha256sum -c SHA256SUMS
       ssh-keygen -Y verify -f allowed_signers -I {PRINCIPAL} -n {OUTER_NAMESPACE} -s SHA256SUMS.sig < SHA256SUMS
       ssh-keygen -Y verify -f allowed_signers -I {PRINCIPAL} -n {OUTER_NAMESPACE} -s checkpoint.txt.sig < checkpoint.txt

3. Decrypt the payload completely to a file first (age releases data before it can detect a
   truncated file), then unpack and check it:

       age -d -i YOUR_KEY_FILE -o payload.tar payload.age     # or: age -d -o payload.tar payload.age (passphrase)
       mkdir payload && tar -xf payload.tar -C payload && cd payload
       sha256sum -c SHA256SUMS
       ssh-keygen -Y verify -f ../allowed_signers -I {PRINCIPAL} -n {INNER_NAMESPACE} -s SHA256SUMS.sig < SHA256SUMS

Or, with tvault: tvault verify-export EXPORT.tar --identity YOUR_KEY_FILE --signer '{fingerprint}'
"
    )
}
