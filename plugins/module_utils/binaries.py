# -*- coding: utf-8 -*-
# Copyright: (c) 2026, YieldVault platform team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding the client tools a module runs (pg_dump, pg_restore) on the managed host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def resolve_binary(module, binary):
    """Full path of binary (a path, or a name looked up on PATH), or (None, why not).

    run_command would fail the module itself on a missing binary; resolving it first lets the caller say which
    client tools to install instead.
    """
    if os.sep in binary:
        if os.path.isfile(binary) and os.access(binary, os.X_OK):
            return binary, None
        return None, '%s does not exist or is not executable' % binary
    found = module.get_bin_path(binary)
    if found:
        return found, None
    return None, '%s was not found on PATH' % binary
