"""A subscription's sealed secret and its URL limits, without a server."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest

from partway.config import load_settings
from partway.webhooks.addresses import RefusedUrl, UrlPolicy
from partway.webhooks.sealing import FILE_NAME, Sealer, UnreadableSecret

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_sealed_secret_opens_only_with_its_key_and_its_subscription(tmp_path: Path) -> None:
    sealer = Sealer.of_data_dir(tmp_path)
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    sealed = sealer.seal(SECRET, "sub_1")
    assert SECRET.encode() not in sealed
    assert sealer.open(sealed, "sub_1") == SECRET
    assert Sealer.of_data_dir(tmp_path).open(sealed, "sub_1") == SECRET  # the same file
    with pytest.raises(UnreadableSecret):
        sealer.open(sealed, "sub_2")  # copied onto another subscription
    with pytest.raises(UnreadableSecret):
        Sealer.of_data_dir(tmp_path / "elsewhere").open(sealed, "sub_1")


def test_hosts_names_wildcards_and_networks() -> None:
    policy = UrlPolicy.parse(["https"], ["hooks.example.com", "*.example.org", "10.1.0.0/16"])
    assert policy.check_url("https://hooks.example.com:8443/x") == ("hooks.example.com", 8443)
    assert policy.check_url("https://a.b.example.org/x") == ("a.b.example.org", 443)
    assert policy.check_url("https://10.1.2.3/x") == ("10.1.2.3", 443)
    for url in ("https://example.org/", "https://evil.com/", "https://10.2.0.1/", "http://x/"):
        with pytest.raises(RefusedUrl):
            policy.check_url(url)
    policy.check_address(ipaddress.ip_address("10.1.9.9"))  # listed: private is allowed
    policy.check_address(ipaddress.ip_address("93.184.215.14"))


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.0.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1",
     "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_non_public_addresses_are_refused_unless_listed(address: str) -> None:
    with pytest.raises(RefusedUrl):
        UrlPolicy.parse(["https"], []).check_address(ipaddress.ip_address(address))
    UrlPolicy.parse(["https"], ["0.0.0.0/0", "::/0"]).check_address(ipaddress.ip_address(address))


def test_settings_refuse_bad_hosts_and_subscription_like_endpoint_names() -> None:
    with pytest.raises(ValueError, match="not a host"):
        load_settings(None, webhook_allowed_hosts=["http://x/"])
    endpoint = {"url": "https://x.example.com", "secret": SECRET}
    with pytest.raises(ValueError, match="may not start with sub_"):
        load_settings(None, webhooks={"sub_x": endpoint})
