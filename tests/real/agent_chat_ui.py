"""LangChain's Agent Chat UI, built once from npm, and `langgraph dev`, both on 127.0.0.1.

The UI is the `vite` template inside the `create-agent-chat-app` npm package (its dependencies
come from the npm registry). `dist()` packs it with npm, installs its dependencies and builds it
(`npm run build:internal`: `tsc -b && vite build`; `npm run build` needs the monorepo's turbo
root) into the cache, once per version. The page is told where the server is by its query
parameters (`?apiUrl=...&assistantId=comp_llm`), so one build serves any port.

`Unavailable` says what is missing (npm, the registry, Chromium, playwright) so that the test
can say so instead of failing obscurely.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from comp_llm_graph.cache import default_cache_dir
from tests.fakes import stop_server

PACKAGE, VERSION = "create-agent-chat-app", "0.1.6"
CHROMIUM = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
REPO = Path(__file__).resolve().parents[2]


class Unavailable(RuntimeError):
    """Something the real chat client needs is not on this machine (the message says what)."""


def _run(command: list[str], cwd: Path, timeout: int) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{' '.join(command)} failed: {exc}") from exc
    if done.returncode != 0:
        raise Unavailable(f"{' '.join(command)} exited {done.returncode}: "
                          f"{(done.stderr or done.stdout)[-1500:]}")
    return done.stdout


def dist() -> Path:
    """The built UI (`dist/`), built into the cache first if needed."""
    home = default_cache_dir() / "agent-chat-ui" / VERSION
    built = home / "vite" / "dist"
    if (home / ".complete").is_file() and (built / "index.html").is_file():
        return built
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed (Node.js 20 or later: apt-get install nodejs npm)")
    staging = home.with_name(f".{VERSION}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    archive = _run([npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"], staging, 300).strip()
    with tarfile.open(staging / archive.splitlines()[-1]) as tar:
        tar.extractall(staging, filter="data")
    template = staging / "vite"
    shutil.move(staging / "package" / "templates" / "vite", template)
    shutil.rmtree(staging / "package")
    _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], template, 900)
    _run([npm, "run", "build:internal"], template, 600)
    shutil.rmtree(home, ignore_errors=True)
    os.replace(staging, home)
    (home / ".complete").write_text(f"{PACKAGE}@{VERSION}\n")
    return built


def chromium() -> str:
    """Debian's Chromium (never a browser a tool downloads)."""
    for path in CHROMIUM:
        if os.access(path, os.X_OK):
            return path
    raise Unavailable("Chromium is not installed (apt-get install chromium)")


def playwright_installed() -> None:
    """playwright (the Python package only: it drives the system Chromium)."""
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        raise Unavailable("playwright is not installed (pip install -e '.[dev]')") from exc


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """`folder` over HTTP on 127.0.0.1, for the block; yields its URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass


@contextlib.contextmanager
def langgraph_dev(port: int, log_path: Path, env: dict[str, str]) -> Iterator[str]:
    """`langgraph dev` serving this repository's langgraph.json on 127.0.0.1:`port`."""
    import httpx

    log = log_path.open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                log.flush()
                raise RuntimeError("langgraph dev did not start:\n"
                                   + log_path.read_text()[-3000:])
            time.sleep(1)
        yield url
    finally:
        stop_server(server, log)
