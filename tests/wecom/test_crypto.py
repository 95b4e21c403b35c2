"""The published vectors (Tencent's doc sample and wechatpy's tests) and the strict checks."""

from __future__ import annotations

import base64
import urllib.parse

import pytest
from wechatpy.crypto.base import WeChatCipher

from bot.wecom.crypto import BadSignature, CallbackCrypto, MalformedCiphertext, WrongReceiver
from tests.conftest import VECTORS


def crypto_for(name: str) -> CallbackCrypto:
    v = VECTORS[name]
    return CallbackCrypto(
        token=v["token"], encoding_aes_key=v["encoding_aes_key"], corp_id=v["corp_id"]
    )


@pytest.mark.parametrize("name", ["tencent_doc_classic", "wechatpy_tests"])
def test_url_verification_vector(name: str) -> None:
    v = VECTORS[name]["verify"]
    echostr = v.get("echostr") or urllib.parse.unquote(v["echostr_urlencoded"])
    plain = crypto_for(name).verify_url(v["msg_signature"], v["timestamp"], v["nonce"], echostr)
    assert plain == v["expected_plain"]


def test_url_encoded_echostr_fails_until_decoded() -> None:
    v = VECTORS["tencent_doc_classic"]["verify"]
    with pytest.raises(BadSignature):
        crypto_for("tencent_doc_classic").verify_url(
            v["msg_signature"], v["timestamp"], v["nonce"], v["echostr_urlencoded"]
        )


def test_push_decryption_vector_tencent() -> None:
    v = VECTORS["tencent_doc_classic"]["post"]
    plain = crypto_for("tencent_doc_classic").decrypt_push(
        v["msg_signature"], v["timestamp"], v["nonce"], v["encrypt"]
    )
    assert plain == v["expected_plain"]


def test_push_decryption_vector_wechatpy() -> None:
    v = VECTORS["wechatpy_tests"]["post"]
    plain = crypto_for("wechatpy_tests").decrypt_push(
        v["msg_signature"], v["timestamp"], v["nonce"], v["encrypt"]
    )
    assert "<FromUserName><![CDATA[messense]]></FromUserName>" in plain


def test_deterministic_encryption_and_signature_vector() -> None:
    v = VECTORS["wechatpy_tests"]["deterministic_encrypt"]
    crypto = crypto_for("wechatpy_tests")
    plaintext = crypto.decrypt(v["expected_encrypt"])
    encrypt, sig = crypto.encrypt_reply(
        plaintext, nonce=v["nonce"], timestamp=v["timestamp"], random16=v["random16"]
    )
    assert encrypt == v["expected_encrypt"]
    assert sig == v["expected_signature"]


def test_round_trip_with_random_prefix() -> None:
    crypto = crypto_for("tencent_doc_classic")
    assert crypto.decrypt(crypto.encrypt("<xml>中文</xml>")) == "<xml>中文</xml>"


def test_tampered_signature_is_refused() -> None:
    v = VECTORS["tencent_doc_classic"]["post"]
    with pytest.raises(BadSignature):
        crypto_for("tencent_doc_classic").decrypt_push(
            "0" * 40, v["timestamp"], v["nonce"], v["encrypt"]
        )


def test_message_for_another_corp_is_refused() -> None:
    v = VECTORS["tencent_doc_classic"]
    other = CallbackCrypto(
        token=v["token"], encoding_aes_key=v["encoding_aes_key"], corp_id="wwSomeoneElse"
    )
    with pytest.raises(WrongReceiver):
        crypto_for("tencent_doc_classic").decrypt(other.encrypt("<xml/>"))


def _raw_encrypt(crypto: CallbackCrypto, plain: bytes) -> str:
    cipher = WeChatCipher(crypto.key)
    return base64.b64encode(cipher.encrypt(plain)).decode()


def test_bad_padding_is_refused() -> None:
    crypto = crypto_for("tencent_doc_classic")
    block = b"x" * 63 + bytes([40])  # pad value above the 32-byte block
    with pytest.raises(MalformedCiphertext, match="填充"):
        crypto.decrypt(_raw_encrypt(crypto, block))


def test_length_beyond_buffer_is_refused() -> None:
    crypto = crypto_for("tencent_doc_classic")
    body = b"r" * 16 + (10_000).to_bytes(4, "big") + b"<xml/>" + crypto.corp_id.encode()
    pad = 32 - len(body) % 32
    with pytest.raises(MalformedCiphertext, match="长度"):
        crypto.decrypt(_raw_encrypt(crypto, body + bytes([pad]) * pad))


def test_garbage_ciphertext_is_refused() -> None:
    with pytest.raises(MalformedCiphertext):
        crypto_for("tencent_doc_classic").decrypt("not base64 at all!!")
