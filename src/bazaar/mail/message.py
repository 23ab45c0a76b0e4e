"""An outbox row as an RFC 5322 message: text and HTML alternatives, a stable Message-ID, List-Unsubscribe."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from bazaar.kernel.ports import OutgoingMail
from bazaar.mail.models import MailMessage


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "bazaar.localhost"


def outgoing(row: MailMessage, *, sender: str) -> OutgoingMail:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.to_address
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    # The same id on every attempt: if a crash ever makes us send an email twice, mail systems see one message.
    msg["Message-ID"] = f"<{row.id}@{sender_domain(sender)}>"
    msg["X-Bazaar-Kind"] = row.kind
    msg["Auto-Submitted"] = "auto-generated"
    if row.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: mail apps unsubscribe in one click
    msg.set_content(row.text_body)
    msg.add_alternative(row.html_body, subtype="html")
    return OutgoingMail(
        mail_id=row.id, sender=parseaddr(sender)[1], recipient=row.to_address, data=msg.as_bytes(policy=SMTP)
    )
