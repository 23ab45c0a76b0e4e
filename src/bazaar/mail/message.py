"""An outbox row as an RFC 5322 message: text and HTML alternatives, a stable Message-ID, List-Unsubscribe.

Built with the classic `email.mime` classes: the policy-based EmailMessage parses every header it is
given, which was two thirds of the sender's CPU per email (bench/mail.py); these only format them.
"""

from __future__ import annotations

from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, parseaddr

from bazaar.kernel.ports import OutgoingMail
from bazaar.mail.models import MailMessage

_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in the raw message, safe for 7-bit servers
# SMTP lines end in CRLF (smtplib sends bytes as they are); headers fold only past the 998 RFC 5322 allows.
_WIRE = compat32.clone(linesep="\r\n", max_line_length=998)


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "bazaar.localhost"


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()  # RFC 2047


def _part(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, _UTF8_QP)  # type: ignore[arg-type]  # the stdlib accepts a Charset too


def outgoing(row: MailMessage, *, sender: str) -> OutgoingMail:
    msg = MIMEMultipart("alternative")
    msg["From"] = _header(sender)
    msg["To"] = row.to_address
    msg["Subject"] = _header(row.subject)
    msg["Date"] = format_datetime(row.created_at)
    # The same id on every attempt: if a crash ever makes us send an email twice, mail systems see one message.
    msg["Message-ID"] = f"<{row.id}@{sender_domain(sender)}>"
    msg["X-Bazaar-Kind"] = row.kind
    msg["Auto-Submitted"] = "auto-generated"
    if row.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: mail apps unsubscribe in one click
    msg.attach(_part(row.text_body, "plain"))
    msg.attach(_part(row.html_body, "html"))
    return OutgoingMail(
        mail_id=row.id, sender=parseaddr(sender)[1], recipient=row.to_address, data=msg.as_bytes(policy=_WIRE)
    )
