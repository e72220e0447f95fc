# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 client and readable S3 errors shared by the collection's modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import traceback

from ansible.module_utils.basic import missing_required_lib

# boto3 is imported on first use (load_boto3): it takes about 0.3 s, which a
# module working on a local store (or on a local file) should not pay.
boto3 = None
Config = None
botocore_exceptions = None
HAS_BOTO3 = None  # not known until load_boto3() has run
BOTO3_IMPORT_ERROR = None


def load_boto3():
    """Import boto3 and botocore once; whether they are available."""
    global boto3, Config, botocore_exceptions, HAS_BOTO3, BOTO3_IMPORT_ERROR
    if HAS_BOTO3 is None:
        try:
            import boto3 as boto3_module
            from botocore.config import Config as config_class
            from botocore import exceptions as exceptions_module
        except ImportError:
            HAS_BOTO3 = False
            BOTO3_IMPORT_ERROR = traceback.format_exc()
        else:
            boto3, Config, botocore_exceptions, HAS_BOTO3 = boto3_module, config_class, exceptions_module, True
    return HAS_BOTO3

# Short enough that an unreachable endpoint fails in about ten seconds
# (2 attempts x 4 s connect timeout + backoff); long reads stay allowed.
CONNECT_TIMEOUT = 4
READ_TIMEOUT = 60
MAX_ATTEMPTS = 2


def s3_argument_spec():
    """Options of the yieldvault.db_restore.s3 doc fragment."""
    return dict(
        s3_bucket=dict(type='str'),
        s3_endpoint_url=dict(type='str'),
        s3_region=dict(type='str', default='us-east-1'),
        aws_access_key=dict(type='str', no_log=True),
        aws_secret_key=dict(type='str', no_log=True),
        aws_session_token=dict(type='str', no_log=True),
    )


def normalize_prefix(prefix):
    """A key prefix as every listing and upload here uses it: no leading slash, one trailing slash ('' stays '')."""
    prefix = (prefix or '').strip().lstrip('/')
    if prefix and not prefix.endswith('/'):
        prefix += '/'
    return prefix


def _blank_to_none(value):
    # Role defaults pass '' for "not set"; boto3 must then use its own chain.
    if value is None or str(value).strip() == '':
        return None
    return str(value).strip()


def safe_endpoint(endpoint):
    """Endpoint for messages, with any user:password@ removed."""
    if not endpoint:
        return None
    return re.sub(r'//[^/@]*@', '//', endpoint)


def s3_location(bucket, endpoint, key=None, region=None):
    """Human description such as s3://bucket/key at http://127.0.0.1:9000."""
    where = 's3://%s' % (bucket or '')
    if key:
        where += '/' + key.lstrip('/')
    if endpoint:
        where += ' at %s' % safe_endpoint(endpoint)
    elif region:
        where += ' (AWS S3, %s)' % region
    return where


def build_s3_client(params):
    """boto3 S3 client from the s3 options in params; ValueError (with what to fix) on bad input."""
    endpoint = _blank_to_none(params.get('s3_endpoint_url'))
    region = _blank_to_none(params.get('s3_region')) or 'us-east-1'
    if endpoint and not re.match(r'^https?://[^/]+', endpoint):
        raise ValueError('db_restore_s3_endpoint_url %r is not a URL: give it as http://HOST:PORT or https://HOST.'
                         % safe_endpoint(endpoint))
    config_args = dict(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={'max_attempts': MAX_ATTEMPTS, 'mode': 'standard'},
    )
    if endpoint:
        # S3-compatible stores (MinIO, Ceph, moto) generally only route path-style requests.
        config_args['s3'] = {'addressing_style': 'path'}
    if not load_boto3():
        raise ValueError(missing_required_lib('boto3'))
    try:
        return boto3.session.Session().client(
            's3',
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=_blank_to_none(params.get('aws_access_key')),
            aws_secret_access_key=_blank_to_none(params.get('aws_secret_key')),
            aws_session_token=_blank_to_none(params.get('aws_session_token')),
            config=Config(**config_args),
        )
    except Exception as exc:  # botocore raises several unrelated types for bad settings
        raise ValueError('Could not set up the S3 client for %s: %s. Check db_restore_s3_endpoint_url, '
                         'db_restore_s3_region and the credentials.' % (s3_location(params.get('s3_bucket'), endpoint, region=region), exc)) from exc


def s3_client(module):
    """boto3 S3 client from the module's s3 options; fails the module on bad input."""
    if not load_boto3():
        module.fail_json(msg=missing_required_lib('boto3') + ' Nothing was changed.', exception=BOTO3_IMPORT_ERROR)
    try:
        return build_s3_client(module.params)
    except ValueError as exc:
        module.fail_json(msg='%s Nothing was changed.' % exc)


def s3_error_code(exc):
    """(code, HTTP status, message) of a botocore ClientError; ('', None, '') for anything else."""
    return _error_code(exc)


def _error_code(exc):
    response = getattr(exc, 'response', None) or {}
    error = response.get('Error') or {}
    code = str(error.get('Code') or '')
    status = (response.get('ResponseMetadata') or {}).get('HTTPStatusCode')
    return code, status, error.get('Message') or ''


# Codes S3 (and compatible stores) use for "try again"; any 5xx counts too.
TRANSIENT_S3_CODES = frozenset(['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'Throttling',
                                'ThrottlingException', 'RequestLimitExceeded', 'OperationAborted'])


def is_transient_s3_error(exc):
    """Whether another try of the same request can succeed.

    Connection drops, timeouts, truncated bodies and server-side errors are
    transient; a missing object, rejected credentials or a bad parameter fail
    the same way every time, so retrying them only delays the real message.
    """
    if not load_boto3():
        return False
    exc_types = botocore_exceptions
    if isinstance(exc, exc_types.ClientError):
        code, status, _message = _error_code(exc)
        return code in TRANSIENT_S3_CODES or (status is not None and (status >= 500 or status in (408, 429)))
    if isinstance(exc, (exc_types.NoCredentialsError, exc_types.PartialCredentialsError,
                        exc_types.ParamValidationError)):
        return False
    # EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, IncompleteReadError,
    # ResponseStreamingError and the raw urllib3/socket errors a streaming body can raise.
    return True


def describe_s3_error(exc, action, bucket, endpoint, key=None, region=None):
    """A readable, secret-free message for an S3 failure: what failed and what to do.

    ``action`` completes "Could not ...", e.g. "list the backups".
    The caller adds whether anything was changed.
    """
    # botocore puts the endpoint URL into its exception text; strip any user:password@ from it.
    return re.sub(r'//[^/@\s"]*@', '//', _describe_s3_error(exc, action, bucket, endpoint, key, region))


def _describe_s3_error(exc, action, bucket, endpoint, key, region):
    where = s3_location(bucket, endpoint, key=key, region=region)
    head = 'Could not %s in %s' % (action, where)
    if not load_boto3():
        return '%s: %s' % (head, exc)
    exc_types = botocore_exceptions
    if isinstance(exc, (exc_types.EndpointConnectionError, exc_types.ConnectTimeoutError)):
        return ('%s: the S3 endpoint %s is unreachable (%s). Check db_restore_s3_endpoint_url, that the service is running '
                'and that this host can reach it.' % (head, safe_endpoint(endpoint) or 'of AWS', exc))
    if isinstance(exc, exc_types.ReadTimeoutError):
        return ('%s: the S3 endpoint stopped answering (read timeout). Retry; if it persists check the '
                'endpoint\'s health and the network.' % head)
    if isinstance(exc, (exc_types.NoCredentialsError, exc_types.PartialCredentialsError)):
        return ('%s: no complete AWS credentials were found. Set db_restore_s3_access_key and '
                'db_restore_s3_secret_key, or the AWS_ACCESS_KEY_ID and '
                'AWS_SECRET_ACCESS_KEY environment variables, or use an instance profile.' % head)
    if isinstance(exc, exc_types.ClientError):
        code, status, message = _error_code(exc)
        if code == 'NoSuchBucket' or (status == 404 and not key):
            return ('%s: the bucket %s does not exist. Check db_restore_s3_bucket (and db_restore_s3_endpoint_url / '
                    'db_restore_s3_region).'
                    % (head, bucket))
        if code in ('NoSuchKey', '404', 'NotFound') or status == 404:
            return ('%s: the object does not exist (or the bucket %s is missing). Check db_restore_s3_bucket and '
                    'db_restore_s3_prefix, and that the object was not deleted since it was listed.' % (head, bucket))
        if code in ('InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'TokenRefreshRequired',
                    'InvalidToken'):
            return ('%s: the credentials were rejected (%s). Check db_restore_s3_access_key and '
                    'db_restore_s3_secret_key (or the AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN '
                    'environment variables).' % (head, code))
        if code in ('AccessDenied', '403', 'Forbidden', 'AllAccessDisabled') or status == 403:
            return ('%s: access denied. Grant these credentials s3:ListBucket and s3:GetObject (and s3:PutObject '
                    'for uploads) on bucket %s, or use credentials that have them.' % (head, bucket))
        if code == 'PermanentRedirect' or status == 301:
            return '%s: the bucket is in another region. Set db_restore_s3_region to the bucket\'s region.' % head
        return '%s: S3 answered %s%s. Check the bucket, the key and the credentials.' % (
            head, code or status, (' (%s)' % message) if message else '')
    if isinstance(exc, exc_types.ParamValidationError):
        return '%s: invalid request parameters (%s).' % (head, exc)
    if isinstance(exc, exc_types.BotoCoreError):
        return '%s: %s. Check db_restore_s3_endpoint_url, the network and the credentials.' % (head, exc)
    return '%s: %s: %s' % (head, type(exc).__name__, exc)
