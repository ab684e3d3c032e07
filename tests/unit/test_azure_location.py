"""Parsing Azure storage URLs and credentials from the environment."""

from __future__ import annotations

import pytest

from partway.storage.azure import AzureLocation, block_id

KEY = "a2V5"  # any base64 string


def test_connection_string_gives_account_key_and_endpoint() -> None:
    conn = f"AccountName=dev;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:10000/dev"
    where = AzureLocation.parse(
        "azure://uploads/tenant/a", {"AZURE_STORAGE_CONNECTION_STRING": conn}
    )
    assert (where.container, where.prefix) == ("uploads", "tenant/a/")
    assert (where.account_name, where.account_key) == ("dev", KEY)
    assert where.account_url == "http://127.0.0.1:10000/dev"


def test_account_and_key_default_to_the_public_endpoint() -> None:
    env = {"AZURE_STORAGE_ACCOUNT": "acct", "AZURE_STORAGE_KEY": KEY}
    where = AzureLocation.parse("azure://c", env)
    assert (where.prefix, where.account_url) == ("", "https://acct.blob.core.windows.net")
    moved = AzureLocation.parse("azure://c?account_url=http://127.0.0.1:1/acct", env)
    assert moved.account_url == "http://127.0.0.1:1/acct"


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("s3://c", {"AZURE_STORAGE_ACCOUNT": "a", "AZURE_STORAGE_KEY": KEY}, "looks like"),
        ("azure://c?region=x", {"AZURE_STORAGE_ACCOUNT": "a", "AZURE_STORAGE_KEY": KEY}, "option"),
        ("azure://c", {}, "AZURE_STORAGE_CONNECTION_STRING"),
        ("azure://c", {"AZURE_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "needs"),
    ],
)
def test_bad_urls_and_missing_credentials_are_refused(
    url: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        AzureLocation.parse(url, env)


def test_block_ids_of_a_blob_have_one_length() -> None:
    # Azure refuses a block list whose ids differ in length.
    assert len({len(block_id("0123456789abcdef", n)) for n in (1, 99, 50_000)}) == 1
