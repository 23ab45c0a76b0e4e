"""Mail transports: SMTP (BAZAAR_SMTP_URL) and, without it, .eml files under <data dir>/mail/ for development.

SMTP uses the standard library's client in a worker thread (one connection per batch of emails):
`smtp://host:port` plain, `smtp://host:port?starttls=1` upgraded with STARTTLS, `smtps://host:port`
over TLS from the first byte; `user:password@` in either logs in. A 5xx answer for an email is a
PermanentDeliveryFailure; connection errors, timeouts and 4xx answers are left to the retry.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from bazaar.kernel.ports import OutgoingMail, PermanentDeliveryFailure


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("BAZAAR_SMTP_URL must look like smtp://host:port or smtps://user:password@host:port")
        tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            tls=tls,
            starttls=not tls and query.get("starttls", ["0"])[0] in {"1", "true", "yes"},
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _classify(exc: Exception) -> Exception:
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        code = min(codes) if codes else None
    if isinstance(code, int) and 500 <= code < 600:
        return PermanentDeliveryFailure(f"{code}: {exc}")
    return exc


class SmtpTransport:
    def __init__(self, url: str, *, timeout: float = 10.0, tls_context: ssl.SSLContext | None = None) -> None:
        self.target = SmtpTarget.parse(url)
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        client: smtplib.SMTP
        if t.tls:
            client = smtplib.SMTP_SSL(t.host, t.port, timeout=self.timeout, context=self.tls_context)
        else:
            client = smtplib.SMTP(t.host, t.port, timeout=self.timeout)
        client.ehlo()
        if t.starttls:
            client.starttls(context=self.tls_context)
            client.ehlo()
        if t.username:
            client.login(t.username, t.password or "")
        return client

    def _send_all(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        try:
            client = self._connect()
        except Exception as exc:  # down, or refusing us (a bad password is a setting to fix): every email waits
            return [exc for _ in mails]
        results: list[Exception | None] = []
        try:
            for mail in mails:
                try:
                    results.append(self._send_one(client, mail))
                except smtplib.SMTPServerDisconnected as exc:
                    results.extend([exc] * (len(mails) - len(results)))  # the connection is gone: the rest wait
                    break
                except smtplib.SMTPException as exc:  # (a subclass of OSError: caught before it)
                    results.append(_classify(exc))
                    try:
                        client.rset()
                    except (smtplib.SMTPException, OSError):
                        pass
                except OSError as exc:
                    results.extend([exc] * (len(mails) - len(results)))
                    break
                except Exception as exc:  # e.g. an address the client cannot encode: this email only
                    results.append(exc)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
        return results

    @staticmethod
    def _send_one(client: smtplib.SMTP, mail: OutgoingMail) -> Exception | None:
        options: list[str] = []
        if not mail.recipient.isascii():  # an internationalised address needs a server that speaks SMTPUTF8
            if not client.has_extn("smtputf8"):
                return PermanentDeliveryFailure("the mail server does not take internationalised addresses")
            options.append("SMTPUTF8")
        client.sendmail(mail.sender, [mail.recipient], mail.data, mail_options=options)
        return None

    async def send(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        if not mails:
            return []
        return await asyncio.to_thread(self._send_all, list(mails))

    async def close(self) -> None:
        return None


class EmlDirectoryTransport:
    """Development: each email becomes `<dir>/<mail id>.eml` (written whole, then renamed into place, so a
    file is never half there; sending an email again rewrites the same file)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        results: list[Exception | None] = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return [exc for _ in mails]
        for mail in mails:
            final = self.directory / f"{mail.mail_id}.eml"
            partial = self.directory / f".{mail.mail_id}.eml.partial"
            try:
                partial.write_bytes(mail.data)
                os.replace(partial, final)
                results.append(None)
            except OSError as exc:
                results.append(exc)
        return results

    async def send(self, mails: Sequence[OutgoingMail]) -> list[Exception | None]:
        return await asyncio.to_thread(self._write, list(mails))

    async def close(self) -> None:
        return None
