"""WeCom callback crypto: wechatpy's cipher and signer, with the checks its samples omit.

Neither Tencent's sample nor wechatpy checks the PKCS#7 pad value or that the declared length
fits the buffer (PROTOCOL.md); `CallbackCrypto.decrypt` does. Every failure raises a subclass
of `CallbackCryptoError` whose `reason` is fit to log and to return in a 4xx.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import struct

from wechatpy.crypto import _get_signature
from wechatpy.utils import random_string
from wechatpy.work.crypto import PrpCrypto

BLOCK = 32


class CallbackCryptoError(Exception):
    status_code = 400
    code = "bad_crypto"

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class BadSignature(CallbackCryptoError):
    status_code = 403
    code = "bad_signature"


class WrongReceiver(CallbackCryptoError):
    status_code = 403
    code = "wrong_corp_id"


class MalformedCiphertext(CallbackCryptoError):
    code = "malformed_ciphertext"


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """sha1 over the sorted strings, lowercase hex (doc 90968)."""
    return str(_get_signature(token, timestamp, nonce, encrypt))


class _FixedRandomPrp(PrpCrypto):
    def __init__(self, key: bytes, random16: str | None):
        super().__init__(key)
        self._random16 = random16

    def get_random_string(self) -> str:
        return self._random16 if self._random16 is not None else str(random_string(16))


class CallbackCrypto:
    """Verify, decrypt and encrypt WeCom callback payloads for one app."""

    def __init__(self, *, token: str, encoding_aes_key: str, corp_id: str):
        self.token = token
        self.corp_id = corp_id
        self.key = base64.b64decode(encoding_aes_key + "=")
        if len(self.key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, data: str) -> None:
        expected = signature(self.token, timestamp, nonce, data)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise BadSignature("签名校验失败 (msg_signature mismatch)")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """URL check: `echostr` already URL-decoded; returns the plaintext to echo back."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_push(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def decrypt(self, encrypt: str) -> str:
        """Decrypt one ciphertext, checking padding, length and receive id strictly."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedCiphertext("密文不是合法的 base64") from None
        if not raw or len(raw) % 16:
            raise MalformedCiphertext("密文长度不是 AES 块长的整数倍")
        plain = PrpCrypto(self.key).cipher.decrypt(raw)
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise MalformedCiphertext("填充无效 (PKCS#7)")
        content = plain[16:-pad]
        if len(content) < 4:
            raise MalformedCiphertext("明文过短")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise MalformedCiphertext("声明的消息长度超出明文")
        message = content[4 : 4 + length]
        receive_id = content[4 + length :]
        if receive_id != self.corp_id.encode():
            raise WrongReceiver("接收方 CorpID 不匹配")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedCiphertext("消息不是 UTF-8 文本") from None

    def encrypt(self, plaintext: str, *, random16: str | None = None) -> str:
        prp = _FixedRandomPrp(self.key, random16)
        return str(prp.encrypt(plaintext, self.corp_id).decode())

    def encrypt_reply(
        self, plaintext: str, *, nonce: str, timestamp: str, random16: str | None = None
    ) -> tuple[str, str]:
        """Encrypt and sign; returns (encrypt, msg_signature)."""
        encrypt = self.encrypt(plaintext, random16=random16)
        return encrypt, signature(self.token, timestamp, nonce, encrypt)

    def passive_reply_xml(self, plaintext: str, *, nonce: str, timestamp: str) -> str:
        """The encrypted passive-reply envelope (doc 90968)."""
        encrypt, sig = self.encrypt_reply(plaintext, nonce=nonce, timestamp=timestamp)
        return (
            f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{sig}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
