# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""settings_problems: db_restore_* settings the collection does not define, and required ones that are missing.

A misspelled optional variable (db_restore_local_backup_directory) was silently ignored and its default used;
a missing required one (db_restore_database) failed with a raw "'db_restore_database' is undefined".
"""

from __future__ import annotations

import difflib

PREFIX = "db_restore_"


def _stem(name):
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def _abbreviates(short, full):
    """Whether short's letters appear in order in full, from its first letter (db -> database)."""
    if not short or not full or short[0] != full[0]:
        return False
    letters = iter(full)
    return all(c in letters for c in short)


def closest_setting(name, known):
    """The known setting name closest to name, or None when none is close enough.

    Compared without the common db_restore_ prefix, which would make every name look alike to difflib.
    """
    by_stem = {_stem(k): k for k in sorted(known)}
    stem = _stem(name)
    close = difflib.get_close_matches(stem, list(by_stem), n=1, cutoff=0.75)
    if close:
        return by_stem[close[0]]
    # A shortened name (db_restore_db) shares too little with the full one for difflib's ratio.
    short = [k for k in by_stem if _abbreviates(stem, k)]
    if short:
        return by_stem[max(short, key=lambda k: (difflib.SequenceMatcher(None, stem, k).ratio(), -len(k)))]
    close = difflib.get_close_matches(stem, list(by_stem), n=1, cutoff=0.6)
    return by_stem[close[0]] if close else None


def settings_problems(names, options):
    """One message per unknown db_restore_* name and per missing required setting; empty when all is well.

    names: the variable names defined for the host (query('ansible.builtin.varnames', '^db_restore_')).
    options: the argument spec's options (every public variable of the collection, with 'required').
    """
    options = options or {}
    known = set(options)
    names = sorted({str(n) for n in (names or []) if str(n).startswith(PREFIX)})
    problems = []
    for name in names:
        if name in known:
            continue
        suggestion = closest_setting(name, known)
        problems.append("%s is not a setting of this collection%s" % (
            name, ("; did you mean %s?" % suggestion) if suggestion else " (docs/variables.yml lists them)"))
    for name in sorted(known):
        option = options[name] if isinstance(options[name], dict) else {}
        if option.get("required") and name not in names:
            description = option.get("description")
            problems.append("%s is required and not set%s" % (
                name, (": " + description.rstrip(".")) if isinstance(description, str) and description else ""))
    return problems


class FilterModule:
    def filters(self):
        return {"settings_problems": settings_problems}
