"""Which S3 failures a download retry can cure (module_utils.s3.is_transient_s3_error)."""
import pytest
from botocore import exceptions as bexc

from ansible_collections.yieldvault.db_restore.plugins.module_utils.s3 import is_transient_s3_error


def client_error(code, status):
    return bexc.ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                            "GetObject")


@pytest.mark.parametrize("exc", [
    client_error("InternalError", 500),
    client_error("SlowDown", 503),
    client_error("RequestTimeout", 400),
    client_error("Whatever", 502),
    bexc.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    bexc.ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    bexc.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    bexc.IncompleteReadError(actual_bytes=10, expected_bytes=100),
    bexc.ResponseStreamingError(error="Connection broken: IncompleteRead"),
    ConnectionResetError(104, "Connection reset by peer"),
])
def test_transient_errors_are_retried(exc):
    assert is_transient_s3_error(exc) is True


@pytest.mark.parametrize("exc", [
    client_error("NoSuchKey", 404),
    client_error("AccessDenied", 403),
    client_error("InvalidAccessKeyId", 403),
    bexc.NoCredentialsError(),
    bexc.ParamValidationError(report="bad key"),
])
def test_permanent_errors_are_not_retried(exc):
    assert is_transient_s3_error(exc) is False
