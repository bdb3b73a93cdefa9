"""The README's screenshots, taken from a running `make run` (demo data, demo logins) in Debian's chromium.

    make run &                       # in another terminal
    .venv/bin/python scripts/screenshots.py [--base-url http://127.0.0.1:8000] [--out docs/screenshots]

Five pages (dashboard, link list, a link's page, a change waiting for approval as the lead sees it, the
topology), each in four looks: light, dark (prefers-color-scheme), Simplified Chinese (the browser asks for
zh-CN, in Asia/Shanghai) and a phone (360 px wide). When no change waits for approval, the engineer asks for
one through the create form first, as a person would.
"""

import argparse
import os
import re
import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

PASSWORD = "dcportal-demo"  # the demo logins' password (create_demo_users)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LOOKS = {
    "light": {"viewport": {"width": 1280, "height": 860}},
    "dark": {"viewport": {"width": 1280, "height": 860}, "color_scheme": "dark"},
    "zh-hans": {
        "viewport": {"width": 1280, "height": 860},
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    },
    "phone": {
        "viewport": {"width": 360, "height": 780},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


def login(browser: Browser, base_url: str, username: str, **options: object) -> Page:
    context = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    expect(page.locator(".whoami")).to_have_text(username)
    return page


def waiting_change(browser: Browser, base_url: str) -> str:
    """The address of a change waiting for approval; the engineer asks for a link when none waits."""
    lead = login(browser, base_url, "lead")
    lead.goto("/approvals/")
    found = lead.locator('main a[href^="/changes/"]')
    if found.count():
        address = found.first.get_attribute("href")
        lead.context.close()
        return address
    lead.context.close()
    engineer = login(browser, base_url, "engineer")
    engineer.goto("/links/new/")
    gateways = engineer.locator("select[name=gateway] option:not([value='']):not([disabled])")
    for index in range(gateways.count()):
        engineer.locator("select[name=gateway]").select_option(gateways.nth(index).get_attribute("value"))
        engineer.locator("select[name=peer_type]").select_option("ER")
        region = engineer.locator(
            "select[name=peer_region] option:not([value='']):not([disabled])"
        ).first.get_attribute("value")
        engineer.locator("select[name=peer_region]").select_option(region)
        expect(engineer.locator("#create-form .htmx-request")).to_have_count(0)
        peers = engineer.locator("select[name=peer] option:not([value='']):not([disabled])")
        if peers.count():
            engineer.locator("select[name=peer]").select_option(peers.first.get_attribute("value"))
            break
    engineer.locator("input[name=name]").fill("demo-link-for-review")
    engineer.locator("#create-form button[type=submit]").last.click()
    expect(engineer).to_have_url(re.compile(r"/changes/\d+/$"))
    address = re.search(r"/changes/\d+/$", engineer.url).group(0)
    engineer.context.close()
    return address


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    parser.add_argument("--out", default="docs/screenshots", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        change = waiting_change(browser, args.base_url)
        for look, options in LOOKS.items():
            page = login(browser, args.base_url, "lead", **options)
            page.goto("/links/")
            link = page.locator('table a[href^="/links/"]').first.get_attribute("href")
            pages = {
                "dashboard": "/",
                "list": "/links/",
                "link": link,
                "approval": change,
                "topology": "/topology/",
            }
            for name, address in pages.items():
                page.goto(address)
                page.wait_for_load_state("networkidle")
                if name == "approval":  # the decision the lead is asked for, with what it changes above it
                    page.locator("#change-decision").evaluate("e => e.scrollIntoView({block: 'start'})")
                path = args.out / f"{name}-{look}.png"
                page.screenshot(path=path)
                print(path)
            page.context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
