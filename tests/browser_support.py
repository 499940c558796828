"""Headless Chromium for the browser tests, installed from Debian's packages when missing.

The browser tests drive Debian's ``chromium`` through ``chromedriver`` with Selenium. A
fresh machine has neither, so :func:`ensure_chromium` installs both with ``apt-get`` the
first time a test asks (about 30 s), under a file lock so that parallel test processes
install once. Without ``apt-get`` or root the test fails with the command to run: a
browser test that silently skips would hide a broken web client.

Chromium runs with the flags a closed network needs: without the background-networking
ones it keeps trying to reach Google's hosts at every start.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
_PACKAGES = ("chromium", "chromium-driver")
_LOCK = Path(tempfile.gettempdir()) / "rxpresence-chromium-install.lock"
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
)


def _installed() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def ensure_chromium() -> tuple[str, str]:
    """The paths of Chromium and ChromeDriver, installing them first if needed.

    Fails the calling test (never skips) when they cannot be installed.
    """
    if _installed():
        return CHROMIUM, CHROMEDRIVER
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.fail(
            "browser tests need Debian's chromium and chromium-driver: "
            f"run `apt-get install -y {' '.join(_PACKAGES)}` as root"
        )
    with open(_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be installing
        if not _installed():
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", *_PACKAGES]):
                done = subprocess.run(
                    command, env=env, capture_output=True, text=True, timeout=600, check=False
                )
                if done.returncode != 0:
                    pytest.fail(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    if not _installed():
        pytest.fail(f"apt-get installed {', '.join(_PACKAGES)} but {CHROMIUM} is missing")
    return CHROMIUM, CHROMEDRIVER


@contextmanager
def headless_chromium() -> Iterator[Any]:
    """A Selenium ``webdriver.Chrome`` on headless Chromium, quit on exit.

    Each browser gets an empty profile of its own, so two browsers in one test are two
    independent clients (separate storage, separate connections).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="rxpresence-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in _FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        try:
            driver.set_page_load_timeout(30)
            yield driver
        finally:
            driver.quit()
