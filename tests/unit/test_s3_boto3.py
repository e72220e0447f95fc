"""boto3 is imported on first S3 use (module_utils.s3.load_boto3): without it, an S3 call fails with what to
install, and nothing else needs it."""
import sys

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import s3


class Failed(Exception):
    pass


class FakeModule:
    params = {"s3_bucket": "b", "s3_endpoint_url": "http://127.0.0.1:9", "s3_region": "us-east-1"}

    def fail_json(self, **kwargs):
        raise Failed(kwargs)


@pytest.fixture
def without_boto3(monkeypatch):
    # None in sys.modules makes "import boto3" raise ImportError, as on a host without it.
    monkeypatch.setitem(sys.modules, "boto3", None)
    monkeypatch.setattr(s3, "HAS_BOTO3", None)
    monkeypatch.setattr(s3, "BOTO3_IMPORT_ERROR", None)
    yield
    # The next test imports it again for real.
    s3.HAS_BOTO3 = None


def test_s3_client_without_boto3_says_what_to_install(without_boto3):
    with pytest.raises(Failed) as failed:
        s3.s3_client(FakeModule())
    result = failed.value.args[0]
    assert "boto3" in result["msg"] and "Nothing was changed." in result["msg"], result["msg"]
    assert "ImportError" in result["exception"] or "ModuleNotFoundError" in result["exception"]
    assert s3.load_boto3() is False


def test_build_client_without_boto3_raises_a_clear_error(without_boto3):
    with pytest.raises(ValueError, match="boto3"):
        s3.build_s3_client(FakeModule.params)


def test_boto3_is_loaded_on_first_use(monkeypatch):
    monkeypatch.setattr(s3, "HAS_BOTO3", None)
    assert s3.load_boto3() is True
    client = s3.build_s3_client(FakeModule.params)
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
