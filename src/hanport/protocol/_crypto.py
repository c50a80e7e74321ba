"""AES-128-GCM of DLMS general-glo-ciphering (Green Book §9.2.7.2.4); the only crypto import.

IV = system title ‖ invocation counter. With authentication (SC bit 4) the AAD is SC ‖ GAK and a
12-byte tag follows the ciphertext; encryption alone (SC 0x20/0x21) is GCM's counter mode with no
tag, which is AES-CTR starting at counter block 2.
"""

from __future__ import annotations

from ._errors import DecryptionError
from ._events import Keys

__all__ = ["TAG_LENGTH", "decrypt", "encrypt"]

TAG_LENGTH = 12
_AUTHENTICATED = 0x10
_ENCRYPTED = 0x20
#: GCM encrypts with counter blocks from 2 on (block 1 masks the tag)
_FIRST_BLOCK = b"\x00\x00\x00\x02"

# cryptography is imported by the first ciphered frame, not with the module: most captures have
# none, and the import is a large part of `hanport decode`'s start-up.


def _gcm_open(key: bytes, iv: bytes, tag: bytes, aad: bytes, ciphertext: bytes) -> bytes:
    """AES-GCM: the plaintext of ``ciphertext`` once ``tag`` is verified over ``aad`` and it."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    mode = modes.GCM(iv, tag, min_tag_length=TAG_LENGTH)
    decryptor = Cipher(algorithms.AES(key), mode).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise DecryptionError("authentication tag mismatch: wrong GUEK or GAK") from None


def _gcm_seal(key: bytes, iv: bytes, aad: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
    """AES-GCM: the ciphertext of ``plaintext`` and the tag over ``aad`` and it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return ciphertext, encryptor.tag[:TAG_LENGTH]


def _ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """GCM without authentication: AES in counter mode from the first data block (both ways)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    counter_mode = Cipher(algorithms.AES(key), modes.CTR(iv + _FIRST_BLOCK)).decryptor()
    return counter_mode.update(data) + counter_mode.finalize()


def _iv(system_title: bytes, counter: int) -> bytes:
    return system_title + counter.to_bytes(4, "big")


def decrypt(keys: Keys, system_title: bytes, security: int, counter: int, payload: bytes) -> bytes:
    """Plaintext APDU of a ciphered payload (ciphertext, then the tag when authenticated)."""
    iv = _iv(system_title, counter)
    if not security & _ENCRYPTED:
        if not security & _AUTHENTICATED:
            return payload
        return _verified_plaintext(keys, iv, security, payload)
    if security & _AUTHENTICATED:
        if len(payload) < TAG_LENGTH:
            raise DecryptionError("ciphered APDU shorter than its authentication tag")
        ciphertext, tag = payload[:-TAG_LENGTH], payload[-TAG_LENGTH:]
        if keys.gak is not None:
            return _gcm_open(keys.guek, iv, tag, bytes((security,)) + keys.gak, ciphertext)
        payload = ciphertext  # no GAK given: decrypt without checking the tag
    return _ctr(keys.guek, iv, payload)


def _verified_plaintext(keys: Keys, iv: bytes, security: int, payload: bytes) -> bytes:
    """Authentication only (SC bit 4 without bit 5): GMAC over SC ‖ GAK ‖ plaintext."""
    if len(payload) < TAG_LENGTH:
        raise DecryptionError("authenticated APDU shorter than its authentication tag")
    plaintext, tag = payload[:-TAG_LENGTH], payload[-TAG_LENGTH:]
    if keys.gak is None:
        return plaintext  # no GAK given: the tag cannot be checked
    _gcm_open(keys.guek, iv, tag, bytes((security,)) + keys.gak + plaintext, b"")
    return plaintext


def encrypt(
    keys: Keys, system_title: bytes, security: int, counter: int, plaintext: bytes
) -> bytes:
    """The ciphered payload: ciphertext (or, authentication only, the plaintext) followed by
    the 12-byte tag when ``security`` asks for authentication."""
    iv = _iv(system_title, counter)
    if security & _AUTHENTICATED:
        if keys.gak is None:
            raise DecryptionError("authenticated frames need the GAK")
        header = bytes((security,)) + keys.gak
        if not security & _ENCRYPTED:
            _, tag = _gcm_seal(keys.guek, iv, header + plaintext, b"")
            return plaintext + tag
        ciphertext, tag = _gcm_seal(keys.guek, iv, header, plaintext)
        return ciphertext + tag
    if not security & _ENCRYPTED:
        return plaintext
    return _ctr(keys.guek, iv, plaintext)
