"""AES-128-GCM of DLMS general-glo-ciphering (Green Book §9.2.7.2.4); the only crypto import.

IV = system title ‖ invocation counter. With authentication (SC bit 4) the AAD is SC ‖ GAK and a
12-byte tag follows the ciphertext; encryption alone (SC 0x20/0x21) is GCM's counter mode with no
tag, which is AES-CTR starting at counter block 2.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ._errors import DecryptionError
from ._events import Keys

__all__ = ["TAG_LENGTH", "decrypt", "encrypt"]

TAG_LENGTH = 12
_AUTHENTICATED = 0x10
_ENCRYPTED = 0x20
#: GCM encrypts with counter blocks from 2 on (block 1 masks the tag)
_FIRST_BLOCK = b"\x00\x00\x00\x02"


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
            decryptor = Cipher(
                algorithms.AES(keys.guek), modes.GCM(iv, tag, min_tag_length=TAG_LENGTH)
            ).decryptor()
            decryptor.authenticate_additional_data(bytes((security,)) + keys.gak)
            try:
                return decryptor.update(ciphertext) + decryptor.finalize()
            except InvalidTag:
                raise DecryptionError("authentication tag mismatch: wrong GUEK or GAK") from None
        payload = ciphertext  # no GAK given: decrypt without checking the tag
    counter_mode = Cipher(algorithms.AES(keys.guek), modes.CTR(iv + _FIRST_BLOCK)).decryptor()
    return counter_mode.update(payload) + counter_mode.finalize()


def _verified_plaintext(keys: Keys, iv: bytes, security: int, payload: bytes) -> bytes:
    """Authentication only (SC bit 4 without bit 5): GMAC over SC ‖ GAK ‖ plaintext."""
    if len(payload) < TAG_LENGTH:
        raise DecryptionError("authenticated APDU shorter than its authentication tag")
    plaintext, tag = payload[:-TAG_LENGTH], payload[-TAG_LENGTH:]
    if keys.gak is None:
        return plaintext  # no GAK given: the tag cannot be checked
    verifier = Cipher(
        algorithms.AES(keys.guek), modes.GCM(iv, tag, min_tag_length=TAG_LENGTH)
    ).decryptor()
    verifier.authenticate_additional_data(bytes((security,)) + keys.gak + plaintext)
    try:
        verifier.finalize()
    except InvalidTag:
        raise DecryptionError("authentication tag mismatch: wrong GUEK or GAK") from None
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
        encryptor = Cipher(algorithms.AES(keys.guek), modes.GCM(iv)).encryptor()
        header = bytes((security,)) + keys.gak
        if not security & _ENCRYPTED:
            encryptor.authenticate_additional_data(header + plaintext)
            encryptor.finalize()
            return plaintext + encryptor.tag[:TAG_LENGTH]
        encryptor.authenticate_additional_data(header)
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return ciphertext + encryptor.tag[:TAG_LENGTH]
    if not security & _ENCRYPTED:
        return plaintext
    counter_mode = Cipher(algorithms.AES(keys.guek), modes.CTR(iv + _FIRST_BLOCK)).encryptor()
    return counter_mode.update(plaintext) + counter_mode.finalize()
