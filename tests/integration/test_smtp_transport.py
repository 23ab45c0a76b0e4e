"""The SMTP transport against aiosmtpd over TLS (smtps://) with a login, and its settings URL."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bazaar.adapters.mail_transport import SmtpTarget, SmtpTransport
from bazaar.kernel.ports import OutgoingMail, PermanentDeliveryFailure
from tests.smtp_server import free_port


def test_smtp_urls() -> None:
    plain = SmtpTarget.parse("smtp://mail.example.com:2525")
    assert (plain.host, plain.port, plain.tls, plain.starttls, plain.username) == (
        "mail.example.com",
        2525,
        False,
        False,
        None,
    )
    tls = SmtpTarget.parse("smtps://ann%40shop:p%3Ass@relay.example.com")
    assert (tls.port, tls.tls, tls.username, tls.password) == (465, True, "ann@shop", "p:ss")
    assert SmtpTarget.parse("smtp://relay:587?starttls=1").starttls
    with pytest.raises(ValueError):
        SmtpTarget.parse("http://relay:25")


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _server(cert: Path, key: Path, port: int, inbox: list[Any]) -> Any:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # the name aiosmtpd calls
            inbox.append(envelope)
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=data.login == b"shop" and data.password == b"s3cret")

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=port,
        ssl_context=context,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,  # the whole connection is TLS (smtps); aiosmtpd only knows of STARTTLS
        server_hostname="localhost",
    )
    controller.start()
    return controller


def _mail() -> OutgoingMail:
    data = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    return OutgoingMail(mail_id="m1", sender="a@example.com", recipient="b@example.com", data=data)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtps_with_a_login(tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    port, inbox = free_port(), []  # type: ignore[var-annotated]
    controller = _server(cert, key, port, inbox)
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        good = SmtpTransport(f"smtps://shop:s3cret@localhost:{port}", timeout=5, tls_context=trust)
        assert asyncio.run(good.send([_mail()])) == [None]
        assert len(inbox) == 1 and inbox[0].rcpt_tos == ["b@example.com"]
        wrong = SmtpTransport(f"smtps://shop:nope@localhost:{port}", timeout=2, tls_context=trust)
        [error] = asyncio.run(wrong.send([_mail()]))
        assert error is not None and not isinstance(error, PermanentDeliveryFailure)  # a setting to fix: retried
        untrusted = SmtpTransport(f"smtps://shop:s3cret@localhost:{port}", timeout=5)
        [error] = asyncio.run(untrusted.send([_mail()]))
        assert isinstance(error, ssl.SSLError)
        assert len(inbox) == 1
    finally:
        controller.stop()
