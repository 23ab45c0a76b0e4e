"""The nginx edge cache (deploy/nginx/bazaar.conf, in Debian's nginx) in front of a real `bazaar serve`: images are
held as immutable, product pages by their Cache-Control, logged-in requests pass through."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.edge_cache import nginx_binary, render_config

from tests.conftest import REQUIRE


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            if _get(port, "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("not ready")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        if REQUIRE:
            pytest.fail("nginx is required (apt-get install nginx-light)")
        pytest.skip("nginx is not installed")
    data = tmp_path_factory.mktemp("edge-data")
    env = {
        **os.environ,
        "BAZAAR_DATA_DIR": str(data),
        "BAZAAR_SEED_PRODUCTS_ON_FIRST_START": "0",
        "BAZAAR_ACCESS_LOG": "false",
        "BAZAAR_LOG_LEVEL": "WARNING",
        "BAZAAR_PASSWORD_HASH_PROFILE": "fast",
    }
    for name in ("BAZAAR_DATABASE_URL", "BAZAAR_REDIS_URL"):
        env.pop(name, None)
    cli = [sys.executable, "-m", "bazaar.cli"]
    subprocess.run([*cli, "seed", "--products", "12", "--quiet"], env=env, check=True, capture_output=True)
    app_port, edge_port = _port(), _port()
    workdir = tmp_path_factory.mktemp("edge-nginx")
    (workdir / "cache").mkdir()
    os.chmod(workdir, 0o777)
    os.chmod(workdir / "cache", 0o777)
    conf = render_config(workdir, edge_port, app_port)
    serve = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(app_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    nginx = subprocess.Popen([nginx_binary(), "-p", str(workdir), "-c", str(conf)], start_new_session=True)
    try:
        _wait(app_port, serve)
        _wait(edge_port, nginx)
        yield app_port, edge_port, data
    finally:
        for proc in (nginx, serve):
            proc.terminate()
            proc.wait(timeout=30)


def test_images_and_product_pages_are_served_from_the_edge(edge: tuple[int, int, Path]) -> None:
    app_port, edge_port, _ = edge
    items = __import__("json").loads(_get(app_port, "/api/v1/search?per_page=1")[2])["items"]
    product_id, image = items[0]["id"], items[0]["image"]["medium"]
    status, headers, body = _get(edge_port, image)
    assert status == 200 and headers["content-type"] == "image/webp"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    again = _get(edge_port, image)
    assert again[1]["x-cache-status"] == "HIT" and again[2] == body

    page = f"/api/v1/products/{product_id}"
    first, second = _get(edge_port, page), _get(edge_port, page)
    assert first[1]["x-cache-status"] in {"MISS", "EXPIRED", "STALE", "UPDATING", "REVALIDATED"}
    assert second[1]["x-cache-status"] == "HIT" and second[2] == first[2] == _get(app_port, page)[2]
    private = _get(edge_port, page, Authorization="Bearer not-a-real-token")
    assert private[1]["x-cache-status"] == "BYPASS"
    assert _get(edge_port, "/")[1].get("x-cache-status", "") == ""  # HTML pages are never cached


def test_searches_are_served_from_the_edge_through_their_own_upstream(edge: tuple[int, int, Path]) -> None:
    """Searches have an upstream of their own (it picks the node by the URL, since each node caches its own
    answers); the edge holds them by their Cache-Control and passes logged-in searches through."""
    app_port, edge_port, _ = edge
    search = "/api/v1/search?q=the&sort=price_asc"
    first, second = _get(edge_port, search), _get(edge_port, search)
    assert first[0] == 200 and first[1]["cache-control"] == "public, max-age=2"
    assert second[1]["x-cache-status"] == "HIT" and second[2] == first[2] == _get(app_port, search)[2]
    private = _get(edge_port, search, Authorization="Bearer not-a-real-token")
    assert private[1]["x-cache-status"] == "BYPASS" and private[2] == first[2]
