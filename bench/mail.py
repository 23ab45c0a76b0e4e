"""Email throughput: how fast the mail sender empties the outbox, and its CPU per email.

Queues N rendered order-confirmation-sized emails straight into the mail outbox, then runs the sender's
rounds (claim, send, settle) until the outbox is empty, once per transport in the same run:
`eml` (files under the data dir, the development default) and `smtp` (aiosmtpd in its own process, so
its CPU is not counted). CPU is this process's (the sender and its SMTP client thread), from
time.process_time; the database is SQLite in a temporary dir unless BAZAAR_DATABASE_URL is set.

    .venv/bin/python bench/mail.py --emails 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bazaar.bootstrap import build_container
from bazaar.db.migrate import upgrade
from bazaar.kernel.ids import new_id
from bazaar.mail import service
from bazaar.mail.sender import send_due
from bazaar.settings import Settings

SERVER = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(transport: str, emails: int, batch: int, data_dir: Path, smtp_url: str | None) -> dict[str, float]:
    settings = Settings(
        data_dir=data_dir,
        smtp_url=smtp_url if transport == "smtp" else None,
        mail_batch_size=batch,
        embedded_workers=False,
        log_level="WARNING",
    )
    upgrade(settings)
    container = build_container(settings)
    text = "Thank you for your order!\n" + "  1 x Something  $19.99\n" * 5
    html = "<p>Thank you for your order!</p>" + "<tr><td>1 x Something</td><td>$19.99</td></tr>" * 5
    try:
        async with container.uow() as uow:
            for n in range(emails):
                await service.enqueue_email(
                    uow=uow,
                    event_id=new_id(),
                    kind="order_placed",
                    to=f"buyer{n}@example.com",
                    subject=f"Your Bazaar order {n:08d} is placed",
                    text=text,
                    html=html,
                    unsubscribe_url="http://127.0.0.1:8000/unsubscribe?token=x",
                )
            await uow.commit()
        assert container.mail is not None
        started, cpu = time.perf_counter(), time.process_time()
        sent = 0
        while n := await send_due(uow_factory=container.uow, transport=container.mail, policy=container.mail_policy):
            sent += n
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await container.close()
    return {
        "emails": sent,
        "seconds": round(seconds, 3),
        "emails_per_second": round(sent / seconds, 1),
        "cpu_ms_per_email": round(1000 * cpu_seconds / max(sent, 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        results = {}
        for transport in ("eml", "smtp"):
            with tempfile.TemporaryDirectory(prefix="bazaar-mail-bench-") as tmp:
                results[transport] = asyncio.run(
                    run(transport, args.emails, args.batch, Path(tmp), f"smtp://127.0.0.1:{port}")
                )
    finally:
        server.communicate(input="", timeout=10)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "mail.json").write_text(json.dumps({"emails": args.emails, "batch": args.batch, **results}, indent=2))
    for transport, r in results.items():
        print(
            f"{transport:5} {r['emails']:>6} emails in {r['seconds']:>7.2f} s: {r['emails_per_second']:>8.1f}/s, "
            f"{r['cpu_ms_per_email']:.3f} ms CPU per email"
        )


if __name__ == "__main__":
    main()
