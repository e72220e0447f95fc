# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # S3 location and credentials, shared by every module that reads or writes the backup store.
    DOCUMENTATION = r'''
options:
  s3_bucket:
    description:
      - Name of the S3 bucket that holds the backups.
      - Required whenever the module talks to S3.
    type: str
  s3_endpoint_url:
    description:
      - URL of an S3-compatible endpoint (MinIO, Ceph, moto), for example C(http://127.0.0.1:9000).
      - Leave unset (or empty) for AWS S3. When set, path-style addressing is used.
    type: str
  s3_region:
    description:
      - Region of the bucket.
    type: str
    default: us-east-1
  aws_access_key:
    description:
      - AWS access key id.
      - When unset (or empty), the usual AWS chain is used (environment variables, shared config, instance profile).
    type: str
  aws_secret_key:
    description:
      - AWS secret access key. Never logged.
    type: str
  aws_session_token:
    description:
      - AWS session token for temporary credentials. Never logged.
    type: str
notes:
  - Network calls to S3 use a short connect timeout and few retries, so an unreachable endpoint fails
    within about ten seconds instead of hanging the play.
requirements:
  - boto3
'''
