"""The ops page in a real browser (Debian's Chromium, driven by Selenium through Debian's
chromedriver) against a real `eventshop run`: an admin signs in with the form, sees every
projection and the mail reactor, a command moves the numbers, and a screenshot is kept as
a test artifact (``$EVENTSHOP_TEST_ARTIFACTS``, default ``test-artifacts/``).

CI installs Chromium (`.ci/run`), and there the test must run; elsewhere it is skipped
when no Chromium is installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx2
import pytest

from bench.fleet import ADMIN, running_fleet
from tests.support.stack import PASSWORD, Servers, eventually

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER) and not os.environ.get("CI"):
    pytest.skip(
        "no chromium/chromedriver here (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 - only where a browser is installed
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402


@pytest.fixture
def chrome() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1400",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=DRIVER or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def applied(driver: WebDriver, name: str) -> int:
    cell = driver.find_element(By.CSS_SELECTOR, f'tr[data-name="{name}"] td.applied')
    return int(cell.text)


def test_an_admin_signs_in_and_sees_a_command_move_the_numbers(
    servers: Servers, chrome: WebDriver
) -> None:
    with running_fleet(servers, api_workers=1) as fleet:
        chrome.get(f"{fleet.query_url}/ops")
        assert "Sign in as an admin" in chrome.page_source
        chrome.find_element(By.NAME, "username").send_keys(ADMIN[0])
        chrome.find_element(By.NAME, "password").send_keys(ADMIN[1])
        chrome.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        eventually(lambda: chrome.find_elements(By.ID, "consumers"), timeout=20)
        shown = {
            row.get_attribute("data-name")
            for row in chrome.find_elements(By.CSS_SELECTOR, "#consumers tr[data-name]")
        }
        assert shown >= {"customers", "products", "orders", "sales", "mail"}, shown
        before = applied(chrome, "customers")

        created = httpx2.post(
            f"{fleet.command_url}/customers",
            json={"email": f"b-{uuid4().hex[:8]}@example.com", "name": "B", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text

        def moved() -> bool:
            chrome.refresh()  # the page also reloads itself every few seconds
            return applied(chrome, "customers") > before

        eventually(moved, timeout=30, interval=0.5)
        artifacts = Path(os.environ.get("EVENTSHOP_TEST_ARTIFACTS", "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        assert chrome.save_screenshot(str(artifacts / "ops-page.png"))
        # The cookie is out of the page's reach (HttpOnly).
        assert chrome.execute_script("return document.cookie") == ""
