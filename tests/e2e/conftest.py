"""Fixtures for the browser (end-to-end) tests of the web chat widget.

Pluggable target server
-----------------------
Tests only talk to the ``chat_server`` fixture, an object with:

* ``url``        base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash); ``GET {url}/``
                 must serve the demo page that embeds ``/static/widget.js``, and
                 ``{url}/ws`` must speak the chat WebSocket protocol;
* ``restart()``  stop the server and start it again on the same port; returns once it
                 serves ``GET /`` again;
* ``canned``     ``True`` only for the fake server: it answers the canned triggers
                 ``trigger-error`` (error frame) and ``xss`` (reply with markup in the
                 text / title / passage). Tests that need them are skipped otherwise.

By default the fake server in ``fake_chat_server.py`` is used. To run the same tests
against the real server, set ``BOT_E2E_SERVER_CMD`` to a command line containing
``{port}`` (and optionally ``{host}``), e.g.::

    BOT_E2E_SERVER_CMD="python -m bot serve --host {host} --port {port}" \
        python -m pytest tests/e2e -q

or override the ``chat_server_factory`` fixture (a callable ``(host, port) -> server``
returning an object with ``start()``, ``stop()``, ``restart()``, ``url``, ``canned``).

Other knobs (environment variables):

* ``BOT_CHROMIUM``              Chromium executable (default ``/usr/bin/chromium``)
* ``BOT_E2E_STARTUP_TIMEOUT``   seconds to wait for the server to serve ``/`` (default 240: a first start converts the GGUF generator and exports ONNX models)
* ``BOT_E2E_ANSWER_TIMEOUT``    seconds to wait for a bot answer (default 30)
* ``BOT_E2E_QUESTION``          a question the server answers with sources
                                (default "What is your return policy?")
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
STATIC_DIR = REPO_ROOT / "bot" / "static"

CHROMIUM = os.environ.get("BOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = float(os.environ.get("BOT_E2E_STARTUP_TIMEOUT", "240"))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SubprocessChatServer:
    """A chat server run as a child process on a fixed port (survives ``restart()``)."""

    def __init__(self, argv: list[str], host: str, port: int, *, canned: bool, name: str) -> None:
        self.argv = argv
        self.host = host
        self.port = port
        self.canned = canned
        self.name = name
        self.url = f"http://{host}:{port}"
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self._log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        self.log_path = Path(self._log.name)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() cleans up children too
        )
        self._wait_ready()

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    # -- helpers ---------------------------------------------------------------
    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(f"{self.name} exited early (code {code}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last_error = exc
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} not serving {self.url}/ after {STARTUP_TIMEOUT_S}s ({last_error}):\n{self.log_tail()}"
        )

    def __repr__(self) -> str:
        return f"<{self.name} {self.url} canned={self.canned}>"


def fake_server_factory(host: str, port: int) -> SubprocessChatServer:
    argv = [
        sys.executable,
        str(HERE / "fake_chat_server.py"),
        "--host",
        host,
        "--port",
        str(port),
        "--static-dir",
        str(STATIC_DIR),
    ]
    return SubprocessChatServer(argv, host, port, canned=True, name="fake-chat-server")


def command_server_factory(template: str) -> Callable[[str, int], SubprocessChatServer]:
    def factory(host: str, port: int) -> SubprocessChatServer:
        argv = [part.format(host=host, port=port) for part in shlex.split(template)]
        return SubprocessChatServer(argv, host, port, canned=False, name="chat-server")

    return factory


def real_server_factory(data_dir: Path) -> Callable[[str, int], SubprocessChatServer]:
    """The real bot (`python -m bot serve`) over the sample store's index: real models, real SQLite."""

    def factory(host: str, port: int) -> SubprocessChatServer:
        argv = [sys.executable, "-m", "bot", "--data-dir", str(data_dir), "serve", "--host", host, "--port", str(port)]
        return SubprocessChatServer(argv, host, port, canned=False, name="storebot")

    return factory


@pytest.fixture(scope="session")
def chat_server_factory(sample_index_dir, tmp_path_factory) -> Callable[[str, int], SubprocessChatServer]:
    """How to build the target server: the real bot by default; ``BOT_E2E_SERVER_CMD`` runs another."""
    template = os.environ.get("BOT_E2E_SERVER_CMD")
    if template:
        return command_server_factory(template)
    data_dir = tmp_path_factory.mktemp("e2e-data")
    shutil.copytree(sample_index_dir, data_dir, dirs_exist_ok=True)
    return real_server_factory(data_dir)


def _running(factory):
    host = "127.0.0.1"
    server = factory(host, free_port(host))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chat_server(chat_server_factory):
    """The running chat server: ``.url``, ``.restart()``, ``.canned``."""
    yield from _running(chat_server_factory)


@pytest.fixture(scope="session")
def fake_chat_server():
    """The fake server, for canned hostile replies and error frames a real store never produces."""
    yield from _running(fake_server_factory)


# ----------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def e2e_browser():
    """Debian's Chromium driven by Playwright's sync API (module scoped, so that the
    sync API's private event loop is gone before any asyncio test module runs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def e2e_context(e2e_browser):
    """A fresh browser profile per test (empty localStorage, so a new sender id)."""
    context = e2e_browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(e2e_context):
    """A page that records uncaught JS errors in ``page.js_errors``."""
    pg = e2e_context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors  # type: ignore[attr-defined]
    return pg
