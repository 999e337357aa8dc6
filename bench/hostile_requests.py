"""What hostile, unauthenticated request bodies cost the server (issue 10, High 3).

Run (by hand; never part of the tests), from a checkout whose .venv has Bijli installed:

    .venv/bin/python bench/hostile_requests.py
    .venv/bin/python bench/hostile_requests.py --posts 4 --mb 200 --array-mb 120

What it does:

1. A fresh SQLite database in a temporary directory, migrated by `bijli db upgrade`.
2. `bijli serve --no-worker` (uvicorn) in a subprocess with OPS_API_TOKEN set.
3. RSS of the server (/proc/<pid>/status VmRSS) before, then `--posts` posts of `--mb` MB
   each to /ops/payments with *no* token, streamed (the client holds one chunk at a time),
   one after the other; RSS after.
4. One `--array-mb` MB JSON array (`[1,1,1,...]`) posted to /ops/payments with no token,
   while /healthz is asked every 50 ms: the worst /healthz latency during the post.

Prints one line per figure. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
BIJLI = Path(sys.executable).parent / "bijli"
CHUNK = 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def filler(megabytes: int) -> AsyncIterator[bytes]:
    """`megabytes` MB of a JSON string body, one chunk at a time."""
    yield b'"'
    for _ in range(megabytes):
        yield b"x" * CHUNK
    yield b'"'


async def json_array(megabytes: int) -> AsyncIterator[bytes]:
    yield b"["
    piece = b"1," * (CHUNK // 2)
    for _ in range(megabytes):
        yield piece
    yield b"1]"


async def post(client: httpx.AsyncClient, body: AsyncIterator[bytes]) -> str:
    try:
        response = await client.post("/ops/payments", content=body,
                                     headers={"Content-Type": "application/json"})
    except httpx.HTTPError as error:  # the server may close on us after answering 413
        return f"connection ended ({type(error).__name__})"
    return str(response.status_code)


async def healthz_worst(client: httpx.AsyncClient, stop: asyncio.Event) -> float:
    worst = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        await client.get("/healthz")
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return worst


async def measure(base: str, pid: int, posts: int, megabytes: int, array_mb: int) -> None:
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(base_url=base, timeout=timeout) as client, \
            httpx.AsyncClient(base_url=base, timeout=timeout) as probe:
        await asyncio.sleep(1.0)
        print(f"RSS before: {rss_mb(pid):.0f} MB")
        for number in range(posts):
            status = await post(client, filler(megabytes))
            print(f"  post {number + 1}: {megabytes} MB unauthenticated -> {status}")
        print(f"RSS after {posts} x {megabytes} MB: {rss_mb(pid):.0f} MB")
        stop = asyncio.Event()
        watcher = asyncio.create_task(healthz_worst(probe, stop))
        await asyncio.sleep(0.2)
        status = await post(client, json_array(array_mb))
        await asyncio.sleep(0.2)
        stop.set()
        print(f"{array_mb} MB JSON array -> {status}; worst /healthz latency during it: "
              f"{await watcher * 1000:.0f} ms")
        print(f"RSS at the end: {rss_mb(pid):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=4)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--array-mb", type=int, default=120)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{scratch}/bench.db",
               "OPS_API_TOKEN": "bench-ops-token-" + "x" * 32, "LOG_LEVEL": "WARNING",
               "BIJLI_ENV": "development"}
        subprocess.run([BIJLI, "db", "upgrade"], env=env, cwd=scratch, check=True,  # noqa: S603
                       capture_output=True)
        server = subprocess.Popen(  # noqa: S603
            [BIJLI, "serve", "--no-worker", "--port", str(args.port)], env=env, cwd=scratch,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{args.port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.2)
            asyncio.run(measure(base, server.pid, args.posts, args.mb, args.array_mb))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
