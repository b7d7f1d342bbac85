"""Finding the browser: a missing Chromium skips the browser tests, or fails them in CI."""

from __future__ import annotations

import shutil

import pytest

from tests.web import browser


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(shutil, "which", lambda name: None)


@pytest.mark.usefixtures("no_chromium")
def test_a_missing_chromium_skips_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(browser.REQUIRED, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        browser.chromium_executable()


@pytest.mark.usefixtures("no_chromium")
def test_a_missing_chromium_fails_when_browser_tests_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(browser.REQUIRED, "1")
    with pytest.raises(pytest.fail.Exception, match="must run"):
        browser.chromium_executable()


def test_the_installed_chromium_is_found() -> None:
    if not browser.Path(browser.CHROMIUM).exists():
        pytest.skip("no Chromium on this machine")
    assert browser.chromium_executable() == browser.CHROMIUM
