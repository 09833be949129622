"""Keyed pseudonyms: every replacement value is HMAC-SHA256(secret, original).

Deriving values instead of storing a lookup table means every executor,
partition, run and streaming batch agrees without coordination, and nobody
without the secret can recompute (or brute-force) the mapping from candidate
identifiers, which a plain hash of a short MRN would allow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

# Syllables for replacement names: clearly synthetic, pronounceable, upper-case.
_ONSETS = ("B", "D", "F", "G", "K", "L", "M", "N", "P", "R", "S", "T", "V", "Z", "BR", "KL", "TR")
_VOWELS = ("A", "E", "I", "O", "U", "AI", "EO")
_CODAS = ("", "", "N", "R", "L", "S", "X")


def _normalise_name(value: str) -> str:
    """Fold case, spacing and empty PN components so one person maps to one pseudonym."""
    parts = [" ".join(p.split()).upper() for p in value.split("^")]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


class Pseudonymizer:
    """Derives UIDs, ids, names and offsets from one secret.

    Each derivation mixes a purpose label into the HMAC input so the same
    original used as, say, a UID and an id yields unrelated outputs.
    """

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the pseudonym secret must not be empty")
        self._key = secret
        self._cached_digest = lru_cache(maxsize=65536)(self._digest)

    def _digest(self, purpose: str, value: str) -> bytes:
        message = purpose.encode() + b"\x1f" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def digest(self, purpose: str, value: str) -> bytes:
        """Raw 32-byte keyed digest of ``value`` for ``purpose``."""
        return self._cached_digest(purpose, value)

    def uid(self, value: str) -> str:
        """A ``2.25.<int>`` UID (PS3.5 B.2) from 128 keyed bits; at most 44 characters."""
        number = int.from_bytes(self.digest("uid", value.strip().rstrip("\x00"))[:16], "big")
        return f"2.25.{number}"

    def digits(self, value: str, length: int) -> str:
        """``length`` decimal digits: a patient id keeps the shape of the original."""
        length = max(1, length)
        number = int.from_bytes(self.digest("digits", value.strip()), "big")
        return str(number % (10**length)).zfill(length)

    def token(self, value: str, length: int = 16) -> str:
        """Upper-case base32 token, valid in SH/LO/CS, for ids that are not numbers."""
        raw = base64.b32encode(self.digest("token", value.strip())).decode().rstrip("=")
        return raw[: max(1, length)]

    def name(self, value: str) -> str:
        """A synthetic ``FAMILY^GIVEN`` person name; same person in, same name out."""
        digest = self.digest("name", _normalise_name(value))
        return f"{self._word(digest[:8], 3)}^{self._word(digest[8:16], 2)}"

    @staticmethod
    def _word(seed: bytes, syllables: int) -> str:
        number = int.from_bytes(seed, "big")
        out = []
        for _ in range(syllables):
            number, onset = divmod(number, len(_ONSETS))
            number, vowel = divmod(number, len(_VOWELS))
            number, coda = divmod(number, len(_CODAS))
            out.append(_ONSETS[onset] + _VOWELS[vowel] + _CODAS[coda])
        return "".join(out)

    def offset(self, purpose: str, key: str, maximum: int) -> int:
        """A non-zero offset in ``[-maximum, -1] U [1, maximum]`` for ``key``.

        Zero is excluded so a "shifted" date never equals the original.
        """
        maximum = max(1, maximum)
        number = int.from_bytes(self.digest(purpose, key), "big")
        magnitude = number % maximum + 1
        return -magnitude if (number >> 200) & 1 else magnitude
