"""`bijli serve`'s own address when PUBLIC_BASE_URL is unset (pure rules of api/first_run)."""

from __future__ import annotations

import pytest

from api.first_run import with_local_base_url
from discom.settings import Settings


@pytest.fixture(autouse=True)
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)


@pytest.mark.parametrize(("host", "port", "url"), [
    ("127.0.0.1", 8001, "http://127.0.0.1:8001"),
    ("0.0.0.0", 9000, "http://127.0.0.1:9000"),  # noqa: S104 - listening everywhere
    ("::1", 8002, "http://[::1]:8002"),
])
def test_without_public_base_url_links_point_at_this_servers_port(host: str, port: int,
                                                                  url: str) -> None:
    assert with_local_base_url(Settings(), host, port).public_base_url == url


def test_a_configured_public_base_url_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bijli.example.in")
    assert with_local_base_url(Settings(), "0.0.0.0", 9000  # noqa: S104
                               ).public_base_url == "https://bijli.example.in"
