"""Model servers with a controlled latency, for the fleet benchmark and the replica tests.

    python -m comp_llm_graph.evaluation.fleet_server --port 8101 --port 8102 --per-token-ms 4

Each port is one OpenAI-compatible "replica" (`POST /v1/chat/completions`, `GET /health`) with
`--slots` requests generated at once (more queue, as on a real server with that many slots). A
reply to a message containing `[tokens=N]` takes N x `--per-token-ms` and has N words (default
16), so a benchmark knows every call's service time in advance and can compute each plan's
critical path. `--failing-port` answers 500 and `--hanging-port` never answers, to test
failover. One process serves every port (aiohttp), apart from the client being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from typing import Any

from aiohttp import web

__all__ = ["DEFAULT_TOKENS", "reply_tokens", "serve"]

DEFAULT_TOKENS = 16
_TOKENS = re.compile(r"\[tokens=(\d+)\]")


def reply_tokens(text: str) -> int:
    """The reply length a message asks for (`[tokens=N]`), else `DEFAULT_TOKENS`."""
    match = _TOKENS.search(text)
    return int(match.group(1)) if match else DEFAULT_TOKENS


def _app(port: int, per_token_s: float, slots: int, mode: str) -> web.Application:
    semaphore = asyncio.Semaphore(slots)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "port": port})

    async def completions(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if mode == "failing":
            return web.json_response({"error": {"message": f"replica {port} is failing"}},
                                     status=500)
        if mode == "hanging":
            await asyncio.sleep(3600)
        text = str((body.get("messages") or [{}])[-1].get("content", ""))
        tokens = reply_tokens(text)
        async with semaphore:
            await asyncio.sleep(tokens * per_token_s)
        return web.json_response({
            "id": f"cmpl-{port}-{time.time_ns()}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", "fleet"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": " ".join(["word"] * tokens)}}],
            "usage": {"prompt_tokens": len(text.split()), "completion_tokens": tokens,
                      "total_tokens": len(text.split()) + tokens},
        })

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat/completions", completions)
    return app


async def serve(ports: list[int], per_token_s: float, slots: int,
                failing: set[int] = frozenset(), hanging: set[int] = frozenset()) -> None:
    """Serve every port on 127.0.0.1 until cancelled."""
    runners = []
    for port in ports:
        mode = "failing" if port in failing else "hanging" if port in hanging else "ok"
        runner = web.AppRunner(_app(port, per_token_s, slots, mode), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, action="append", required=True)
    parser.add_argument("--per-token-ms", type=float, default=4.0)
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--failing-port", type=int, action="append", default=[])
    parser.add_argument("--hanging-port", type=int, action="append", default=[])
    args = parser.parse_args()
    asyncio.run(serve(args.port + args.failing_port + args.hanging_port,
                      args.per_token_ms / 1000, args.slots, set(args.failing_port),
                      set(args.hanging_port)))


if __name__ == "__main__":
    main()
