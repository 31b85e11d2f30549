"""What every learner page costs on a phone network: bytes transferred on a first visit (empty
cache) and on a repeat visit (the same browser, its cache warm), measured in Debian's Chromium.

    .venv/bin/python bench/page_weight.py [--root DIR] [--port 5140]

The platform of ``--root`` (this checkout by default; an exported older commit to compare)
is started in development mode on ``--port`` with the demo data (SQLite and the in-process
Redis stand-in of a fresh ``instance/`` under a temporary copy of nothing but its data), and
each page is opened at a phone's size with WeChat's user agent, signed in as a demo learner.
Bytes are what went over the wire (Chromium's ``encodedDataLength``: headers and compressed
bodies); chapter video is counted apart, as it streams while the learner watches. The
figures to compare are the ratios to the goal (60 KB first, 10 KB repeat) of two runs on one
machine, before and after a change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI "
    "Language/zh_CN"
)
FIRST_GOAL, REPEAT_GOAL = 60 * 1024, 10 * 1024
# Demo learners (README): 张伟 studies the 2022 plan; 阿依古丽 holds a certificate.
STUDENT = ("13800000001", "Study2022")
HOLDER = ("13800000003", "Study2022")


@dataclass
class Visit:
    bytes: int = 0
    requests: int = 0
    media: int = 0
    by_url: dict[str, int] = field(default_factory=dict)


def start_platform(root: Path, port: int, workdir: Path) -> subprocess.Popen:
    """The platform of ``root`` with its own instance folder (a copy of the tree's code would
    be heavy; the instance path is the only thing it writes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "APP_"))}
    env.update(
        APP_ENV="development",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        STORAGE_DIR=str(workdir / "storage"),
        LOG_LEVEL="WARNING",
    )
    flask = str(ROOT / ".venv" / "bin" / "flask")
    for command in (["db", "upgrade"], ["demo", "seed"]):
        subprocess.run(
            [flask, "--app", "wsgi", *command], cwd=root, env=env, check=True, capture_output=True
        )
    server = subprocess.Popen(
        [flask, "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(port),
         "--with-threads", "--no-reload"],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("the platform did not start")


def new_phone(browser) -> BrowserContext:
    return browser.new_context(
        viewport={"width": 390, "height": 844},
        user_agent=WECHAT_UA,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )


def log_in(context: BrowserContext, base: str, account: tuple[str, str]) -> None:
    page = context.new_page()
    page.goto(base + "/h5/login")
    page.fill("#account", account[0])
    page.fill("#password", account[1])
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state("networkidle")
    page.close()


def measure(page: Page, url: str) -> Visit:
    """Open ``url`` and add up what crossed the network until it settles."""
    visit = Visit()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    cdp.on(
        "Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"])
    )

    def finished(event) -> None:
        size = int(event.get("encodedDataLength") or 0)
        address = urls.get(event["requestId"], "")
        if "/h5/media/" in address:
            visit.media += size
            return
        if size:
            visit.requests += 1
            visit.bytes += size
            visit.by_url[address] = visit.by_url.get(address, 0) + size

    cdp.on("Network.loadingFinished", finished)
    page.goto(url, wait_until="networkidle")
    page.wait_for_timeout(300)
    cdp.detach()
    return visit


def discover(context: BrowserContext, base: str, path: str, prefix: str) -> str | None:
    page = context.new_page()
    page.goto(base + path)
    link = page.locator(f'a[href^="{prefix}"]').first
    href = link.get_attribute("href") if link.count() else None
    page.close()
    return href.split("?")[0] if href else None


def learner_pages(context: BrowserContext, base: str, holder: BrowserContext) -> list[tuple]:
    """(label, path, context) for every learner page, the ids found by following links."""
    plan = discover(context, base, "/h5/plans", "/h5/plans/")
    study_plan = discover(context, base, "/h5/study", "/h5/study/plans/")
    course = discover(context, base, study_plan or "/h5/study", "/h5/study/courses/")
    chapter = discover(context, base, course or "/h5/study", "/h5/study/chapters/")
    certificate = discover(holder, base, "/h5/certificates", "/h5/certificates/")
    pages = [
        ("首页 plans", "/h5/plans", context),
        ("plan detail", plan, context),
        ("课程培训", "/h5/study", context),
        ("study plan", study_plan, context),
        ("course", course, context),
        ("chapter (player)", chapter, context),
        ("我的 home", "/h5/home", context),
        ("orders", "/h5/orders", context),
        ("invoices", "/h5/invoices", context),
        ("makeup", "/h5/makeup", context),
        ("manual", "/h5/manual", context),
        ("certificates", "/h5/certificates", holder),
        ("certificate view", certificate, holder),
    ]
    return [(label, path, ctx) for label, path, ctx in pages if path]


def kb(size: int) -> str:
    return f"{size / 1024:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--port", type=int, default=5140)
    parser.add_argument("--detail", action="store_true", help="list the bytes of every file")
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    workdir = Path(tempfile.mkdtemp(prefix="page-weight-"))
    instance = args.root / "instance"
    kept = instance.with_name("instance.page-weight-kept")
    if instance.exists():
        instance.rename(kept)  # a fresh demo database; the developer's comes back afterwards
    server = start_platform(args.root, args.port, workdir)
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            student, holder = new_phone(browser), new_phone(browser)
            log_in(student, base, STUDENT)
            log_in(holder, base, HOLDER)
            state = {id(student): student.storage_state(), id(holder): holder.storage_state()}
            for label, path, who in learner_pages(student, base, holder):
                # A first visit: a new browser profile, signed in, nothing cached.
                context = browser.new_context(
                    viewport={"width": 390, "height": 844}, user_agent=WECHAT_UA,
                    device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN",
                    storage_state=state[id(who)],
                )  # fmt: skip
                page = context.new_page()
                first = measure(page, base + path)
                repeat = measure(page, base + path)
                context.close()
                rows.append((label, path, first, repeat))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(instance, ignore_errors=True)
        if kept.exists():
            kept.rename(instance)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"page weight of {args.root} (KB transferred; goal {FIRST_GOAL // 1024} first, "
          f"{REPEAT_GOAL // 1024} repeat)")  # fmt: skip
    print(f"{'page':<18} {'first':>7} {'req':>4} {'repeat':>7} {'req':>4} {'video':>7}  path")
    for label, path, first, repeat in rows:
        flag = "" if first.bytes < FIRST_GOAL and repeat.bytes < REPEAT_GOAL else "  over"
        print(
            f"{label:<18} {kb(first.bytes)} {first.requests:>4} {kb(repeat.bytes)} "
            f"{repeat.requests:>4} {kb(first.media)}  {path}{flag}"
        )
        if args.detail:
            for url, size in sorted(first.by_url.items(), key=lambda item: -item[1]):
                print(f"{'':<20}{kb(size)}  {url.replace(base, '')}")
    worst_first = max(first.bytes for _, _, first, _ in rows)
    worst_repeat = max(repeat.bytes for _, _, _, repeat in rows)
    print(
        f"worst first visit {kb(worst_first).strip()} KB = {worst_first / FIRST_GOAL:.2f} × goal; "
        f"worst repeat visit {kb(worst_repeat).strip()} KB = {worst_repeat / REPEAT_GOAL:.2f} × goal"
    )


if __name__ == "__main__":
    sys.exit(main())
