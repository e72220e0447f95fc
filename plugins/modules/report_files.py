#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: report_files
short_description: Write the files of a run's report in one round trip
description:
  - Writes several text files (for example C(report.json), C(report.md) and C(timeline.svg)) into one directory
    with one module call, where M(ansible.builtin.copy) takes two round trips per file.
  - Each file is written to a temporary file in the same directory and renamed over the old one, so a reader
    never sees half a report, and a failed write leaves no partial file.
version_added: 0.2.0
author:
  - YieldVault platform team
options:
  dir:
    description:
      - The directory the files go to. It is created (mode 0750) when missing.
    type: path
    required: true
  files:
    description:
      - File name (a plain name, no directory part) to content.
    type: dict
    required: true
  mode:
    description:
      - Mode of the files, as for M(ansible.builtin.file).
    type: raw
    default: '0640'
attributes:
  check_mode:
    support: full
    details:
      - Reports which files would change without writing them.
'''

EXAMPLES = r'''
- name: Write the report
  yieldvault.db_restore.report_files:
    dir: "{{ __db_restore_run_dir }}"
    files:
      report.json: "{{ report | ansible.builtin.to_nice_json(indent=2) }}\n"
      report.md: "{{ report | yieldvault.db_restore.report_markdown }}"
'''

RETURN = r'''
paths:
  description: The files, in the order of O(files).
  returned: always
  type: list
  elements: str
  sample: ["/var/backups/postgresql/reports/restore-yieldvault_prod-20260429T143000Z-a1b2/report.json"]
changed_files:
  description: The files whose content or mode changed (or would change, in check mode).
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible_collections.yieldvault.db_restore.plugins.module_utils.files import write_atomic


def parse_mode(value):
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text or any(c not in '01234567' for c in text):
        raise ValueError('mode must be octal digits such as 0640, got %r' % (value,))
    return int(text, 8)


def current(path):
    """(content bytes, mode) of path, or (None, None) when there is none."""
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
        return data, os.stat(path).st_mode & 0o7777
    except (IOError, OSError):
        return None, None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type='path', required=True),
            files=dict(type='dict', required=True),
            mode=dict(type='raw', default='0640'),
        ),
        supports_check_mode=True,
    )
    directory = module.params['dir']
    try:
        mode = parse_mode(module.params['mode'])
    except ValueError as exc:
        module.fail_json(msg='%s. Nothing was written.' % to_native(exc))
    bad = [name for name in module.params['files'] if not name or '/' in name or name in ('.', '..')]
    if bad:
        module.fail_json(msg='File names must be plain names without a directory part: %s. Nothing was written.'
                             % ', '.join(repr(n) for n in bad))
    paths, changed = [], []
    if not os.path.isdir(directory) and not module.check_mode:
        try:
            os.makedirs(directory, 0o750)
        except OSError as exc:
            module.fail_json(msg='Could not create %s: %s. Nothing was written.'
                                 % (directory, to_native(exc.strerror or exc)), paths=paths, changed_files=changed)
    for name, content in module.params['files'].items():
        path = os.path.join(directory, name)
        data = to_bytes('' if content is None else content, errors='surrogate_or_strict')
        paths.append(path)
        old, old_mode = current(path)
        if old == data and old_mode == mode:
            continue
        changed.append(path)
        if module.check_mode:
            continue
        try:
            write_atomic(path, data, mode, fsync=False)
        except (IOError, OSError) as exc:
            module.fail_json(msg='Could not write %s: %s. Written before it: %s.'
                                 % (path, to_native(exc.strerror or exc), ', '.join(changed[:-1]) or 'nothing'),
                             paths=paths, changed_files=changed[:-1], changed=len(changed) > 1)
    module.exit_json(changed=bool(changed), paths=paths, changed_files=changed)


if __name__ == '__main__':
    main()
