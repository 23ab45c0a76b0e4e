"""The `bazaar` command line: serve, worker, migrate, seed, reindex, sandbox-payments, admin."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from bazaar.settings import Settings, SettingsError


def _migrate(settings: Settings) -> None:
    from bazaar.db.migrate import upgrade

    upgrade(settings)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    if args.downgrade:
        from bazaar.db.migrate import downgrade

        downgrade(settings, args.downgrade)
        print(f"schema downgraded to {args.downgrade}")
    else:
        _migrate(settings)
        print("schema is up to date")
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from bazaar.seed.loader import seed_catalog

    _migrate(settings)
    result = asyncio.run(
        seed_catalog(
            settings,
            products=args.products,
            sellers=args.sellers,
            seed=args.seed,
            progress=not args.quiet,
            pictures=args.pictures,
        )
    )
    print(result.summary())
    _reindex(settings, progress=not args.quiet)
    return 0


def _reindex(settings: Settings, *, progress: bool, only_if_empty: bool = False) -> None:
    """Rebuild the search index from the database; if a running worker holds the index, ask it to."""
    from bazaar.bootstrap import build_container
    from bazaar.search.index import IndexLocked
    from bazaar.search.indexer import Indexer

    async def main() -> None:
        from sqlalchemy import func, select
        from tqdm import tqdm

        from bazaar.catalog.models import Product

        container = build_container(settings)
        indexer: Indexer = container.extras["search_indexer"]
        indexer.index.index()  # an empty index exists before any web process opens it
        try:
            async with container.read_uow() as uow:
                total = int((await uow.session.execute(select(func.count()).select_from(Product))).scalar_one())
            if only_if_empty and (total == 0 or indexer.index.num_docs() > 0):
                return
            bar = tqdm(total=total, unit="products", desc="indexing", disable=not progress)
            try:
                report = await indexer.rebuild(progress=bar.update)
            except IndexLocked:
                indexer.index.rebuild_marker.touch()
                print("a running worker holds the search index; it will rebuild it within a few seconds")
                return
            finally:
                bar.close()
            print(f"search index: {report.products} products in {report.seconds:.1f} s")
        finally:
            indexer.close()
            await container.close()

    asyncio.run(main())


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    _migrate(settings)
    _reindex(settings, progress=not args.quiet)
    return 0


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for `serve`. Forwarded headers are believed only from BAZAAR_TRUSTED_PROXIES:
    uvicorn's default believes them from 127.0.0.1, so anyone on the same host (or a proxy that passes the
    header through) could pick their address and dodge the per-IP login and registration limits."""
    from bazaar.web.http_protocol import OneWriteHttpToolsProtocol

    return {
        "factory": True,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "http": OneWriteHttpToolsProtocol,  # a response's header block and body in one write
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
    }


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bazaar.seed.loader import seed_if_empty
    from bazaar.supervision import supervisor

    # Every process of this node (web processes, the worker) knows when the node started: /readyz waits
    # for the search replica to catch up in this run, not an earlier one.
    os.environ["BAZAAR_NODE_STARTED_AT"] = datetime.now(UTC).isoformat()
    _migrate(settings)
    if settings.seed_products_on_first_start > 0:
        asyncio.run(seed_if_empty(settings, products=settings.seed_products_on_first_start))
    # Freshly seeded (or an index folder lost): build the index before serving, while no worker holds it.
    _reindex(settings, progress=False, only_if_empty=True)
    options = server_options(settings)
    if args.workers <= 1:  # one process: the workers run inside it (unless turned off)
        uvicorn.run("bazaar.web.app:create_app", host=args.host, port=args.port, **options)
        return 0
    from bazaar.web.observability import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    # Several web processes: background work runs once, in a supervised worker process, not in each web process.
    with_worker = settings.embedded_workers
    os.environ["BAZAAR_EMBEDDED_WORKERS"] = "false"
    policy = supervisor.Policy(
        startup_grace_seconds=settings.supervisor_startup_grace_seconds, hang_seconds=settings.supervisor_hang_seconds
    )
    return supervisor.serve(
        host=args.host,
        port=args.port,
        web_processes=args.workers,
        uvicorn_options=options,
        run_dir=settings.data_dir / "run",
        with_worker=with_worker,
        policy=policy,
    )


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from bazaar.bootstrap import build_container
    from bazaar.supervision.heartbeat import keep_beating
    from bazaar.web.observability import configure_logging
    from bazaar.workers.runner import run_all

    configure_logging(settings.log_level, settings.log_json)
    if not args.no_migrate:
        _migrate(settings)
    if settings.worker_nice > 0:
        # Background work (relay, indexer, consumers, sweeps) can wait a moment; buyers' requests cannot. When the
        # cores are busy, the kernel gives the web processes the larger share (nice 5: about a third of the weight).
        os.nice(settings.worker_nice)

    async def main() -> None:
        container = build_container(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        beating = asyncio.create_task(keep_beating(settings.heartbeat_file, stop)) if settings.heartbeat_file else None
        try:
            await run_all(container, stop)
        finally:
            stop.set()
            if beating is not None:
                await beating
            await container.close()

    # uvloop, as uvicorn gives the web processes: the worker's relay and consumers make a round trip per statement
    # and per stream read, and the default loop's Python machinery around each cost about a tenth of its CPU.
    _run_fast(main())
    return 0


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # not built for this platform: the default loop does the same, a little slower
        asyncio.run(main)
        return
    uvloop.run(main)


def cmd_sandbox_payments(args: argparse.Namespace, settings: Settings) -> int:
    """The built-in sandbox payment provider as its own process; point BAZAAR_PAYMENT_PROVIDER_URL at it."""
    import uvicorn

    from bazaar.adapters.sandbox_payments import SandboxConfig, create_sandbox_app

    config = SandboxConfig.from_settings(settings)
    if config.webhook_url is None:
        config = dataclasses.replace(config, webhook_url=settings.public_url.rstrip("/") + "/api/v1/webhooks/payments")
    print(f"sandbox payment provider on http://{args.host}:{args.port} (state in {config.database})", flush=True)
    # A held-back "times out after authorizing" answer must not delay shutdown for long.
    uvicorn.run(
        create_sandbox_app(config), host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=2
    )
    return 0


def cmd_admin_grant(args: argparse.Namespace, settings: Settings) -> int:
    """Give an existing account the operator role."""
    from bazaar.accounts.errors import UserNotFound
    from bazaar.accounts.standing import grant_admin
    from bazaar.bootstrap import build_container

    _migrate(settings)

    async def main() -> int:
        container = build_container(settings)
        try:
            async with container.uow() as uow:
                await grant_admin(uow=uow, email=args.email, sessions=container.sessions)
        except UserNotFound:
            print(f"no account has the email {args.email}; register it first", file=sys.stderr)
            return 1
        finally:
            await container.close()
        print(f"{args.email} is now an operator (role admin)")
        return 0

    return asyncio.run(main())


def cmd_payouts_run(args: argparse.Namespace, settings: Settings) -> int:
    """Pay every seller's available balance now (safe beside the worker's daily run)."""
    from bazaar.bootstrap import build_container
    from bazaar.ledger.payouts import run_payouts

    _migrate(settings)

    async def main() -> None:
        container = build_container(settings)
        try:
            report = await run_payouts(uow_factory=container.uow, gateway=container.payments, trigger="cli")
        finally:
            await container.close()
        print(
            f"payout run {report.run_id}: {report.paid} paid ({report.amount / 100:,.2f}), "
            f"{report.failed} failed, {report.pending} awaiting the provider's answer"
        )

    asyncio.run(main())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bazaar", description="Bazaar marketplace")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate if needed, then serve the API and storefront")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run the background workers")
    worker.add_argument("--no-migrate", action="store_true", help="skip the schema check (the supervisor did it)")
    worker.set_defaults(func=cmd_worker)
    migrate = sub.add_parser("migrate", help="bring the schema up to date")
    migrate.add_argument("--downgrade", metavar="REVISION", help="downgrade to REVISION (e.g. base) instead")
    migrate.set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed", help="load a deterministic demo catalog (idempotent)")
    seed.add_argument("--products", type=int, default=1000)
    seed.add_argument("--sellers", type=int, default=None)
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.add_argument(
        "--pictures", type=int, default=2000, help="draw a picture for up to N products that have none (0: none)"
    )
    seed.set_defaults(func=cmd_seed)
    sandbox = sub.add_parser("sandbox-payments", help="run the sandbox payment provider as its own process")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8099)
    sandbox.set_defaults(func=cmd_sandbox_payments)
    reindex = sub.add_parser("reindex", help="rebuild the search index from the database")
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex.set_defaults(func=cmd_reindex)
    admin = sub.add_parser("admin", help="the marketplace's operators")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    grant = admin_sub.add_parser("grant", help="give an account the admin role")
    grant.add_argument("email")
    grant.set_defaults(func=cmd_admin_grant)
    payouts = sub.add_parser("payouts", help="sellers' payouts")
    payouts_sub = payouts.add_subparsers(dest="payouts_command", required=True)
    payouts_sub.add_parser("run", help="pay every seller's available balance now").set_defaults(func=cmd_payouts_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        settings.check_production_safety()
    except SettingsError as exc:
        print(f"bazaar: refusing to start: {exc}", file=sys.stderr)
        return 2
    return int(args.func(args, settings))


if __name__ == "__main__":
    sys.exit(main())
