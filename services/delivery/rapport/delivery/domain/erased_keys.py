"""What an erased customer's idempotency keys become.

Senders often build keys from personal data ("receipt-ada@example.com-2026-12"), so an
erasure replaces each of the customer's keys by a one-way digest: an HMAC-SHA256 of
workspace and key under a secret delivery keeps in its own database. Keyed rather than a
plain hash because such keys are guessable: with a plain hash, anyone reading a tombstone
(ListMessages, an export) could confirm a guessed address by hashing it. The digest still
lets a resubmission of the raw key within its window find the erased message: the key is
looked up as given and as its digest, in one statement.

The erased message's payload fingerprint (a plain sha256 of what it said: guessable for
a short payload) becomes an HMAC under the same secret too: a resubmission's fingerprint,
put through it, still tells the duplicate from a reuse of the key with other content.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field

# Keys of this form are digests of erased keys; a sender may not submit one (validation).
ERASED_KEY_PREFIX = "erased-hmac-sha256:"
# The name its secret is kept under in delivery's database (signing_keys): generated once,
# never configured, so that no rotation of a configured secret loses the erased keys.
SECRET_NAME = "erased-idempotency-keys"


def is_erased_key(key: str) -> bool:
    return key.startswith(ERASED_KEY_PREFIX)


@dataclass(frozen=True)
class ErasedKeys:
    # Random when not given: bootstrap gives the key kept in the database, the same for
    # every replica and restart (a digest must be found again by the next resubmission).
    secret: bytes = field(default_factory=lambda: os.urandom(32), repr=False)

    def digest(self, workspace: str, key: str) -> str:
        """The erased form of `key` in `workspace`: the same on every call, never reversed."""
        # "\x1f" cannot be in either (names and printable keys): the pair is unambiguous.
        mac = hmac.digest(self.secret, f"{workspace}\x1f{key}".encode(), "sha256")
        return ERASED_KEY_PREFIX + mac.hex()

    def fingerprint(self, workspace: str, fingerprint: str) -> str:
        """The erased form of a payload fingerprint: 64 hex digits, as the plain one (the
        column's size), and never equal to a key's digest (another label)."""
        mac = hmac.digest(
            self.secret, f"payload\x1f{workspace}\x1f{fingerprint}".encode(), "sha256"
        )
        return mac.hex()
