"""Photograph a web UI with headless chromium after a few clicks (for docs/team_walkthrough.sh).

    python docs/ui_screenshot.py URL OUT.png [--click CSS_SELECTOR]... [--wait-text TEXT]

`chromium --screenshot` alone cannot expand a run group or close a side panel, so this drives it
through the DevTools protocol: load, wait until TEXT is on the page, click each selector (every
match, in order), wait for the page to settle, save a PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Page:
    def __init__(self, connection):
        self.connection, self.next_id = connection, 0

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.connection.send(
            json.dumps({"id": self.next_id, "method": method, "params": params})
        )
        while True:
            message = json.loads(await self.connection.recv())
            if message.get("id") == self.next_id:
                return message.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


async def photograph(
    debugger: str, url: str, out: Path, clicks: list[str], wait_text: str | None
) -> None:
    async with websockets.connect(debugger, max_size=2**26) as connection:
        page = Page(connection)
        await page.send("Page.enable")
        await page.send("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        probe = f"document.body && document.body.innerText.includes({json.dumps(wait_text or '')})"
        while not await page.evaluate(probe):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url}: {wait_text!r} did not appear within 60 s")
            await asyncio.sleep(0.5)
        await asyncio.sleep(3)
        for selector in clicks:
            clicked = await page.evaluate(
                f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                ".map(e => (e.click(), 1)).length"
            )
            print(f"{selector}: clicked {clicked}")
            await asyncio.sleep(1.5)
        await asyncio.sleep(2)
        shot = await page.send("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--click", action="append", default=[])
    parser.add_argument("--wait-text")
    parser.add_argument("--size", default="1500,950")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="medimg-chromium-")
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={args.size}",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as r:
                    [tab] = [t for t in json.load(r) if t["type"] == "page"][:1]
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise SystemExit("chromium did not open its DevTools port") from None
                time.sleep(0.3)
        asyncio.run(
            photograph(tab["webSocketDebuggerUrl"], args.url, args.out, args.click, args.wait_text)
        )
    finally:
        browser.terminate()
        browser.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
