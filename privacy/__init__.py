"""Privacy computing between member firms: two-party private set intersection and its signed, disclosable record.

- ``privacy.identifiers``: the normal form of customer identifiers and their per-job HMAC-SHA256 keying;
- ``privacy.psi``: the protocol as explicit messages over ``openmined.psi`` (ECDH-PSI on P-256), the job secret
  sealed with RFC 9180 HPKE;
- ``privacy.record``: the job record (RFC 8785 canonical JSON, digests only), signed by both parties (Ed25519);
- ``privacy.disclosure``: commitments over RFC 9381 ECVRF outputs in an RFC 9162 Merkle tree, and proofs that one
  identifier was or was not in a party's input or in the result;
- ``privacy.document``: a disclosure proof as a file (``consortium-ledger/privacy-disclosure/v1``) with the
  signed record it is checked against;
- ``privacy.jobfiles``: the files a party keeps after a job (VRF key, committed sets, the signed record);
- ``privacy.vrf``: ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381) over libsodium (PyNaCl).

``docs/privacy.md`` gives the threat model and the reasons for the disclosure construction. Nothing heavy runs at
import time except loading ``openmined.psi`` with ``privacy.psi``.
"""
