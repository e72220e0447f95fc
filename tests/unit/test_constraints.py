"""constraints.txt pins what requirements.txt pulls in; the two must agree, or a fresh machine installs something the
last green make test did not have (as cryptography 51.0 once did: a warning at the top of every run)."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)")


def _pins(name):
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, "%s: %r is not pinned as name==version" % (name, line)
        pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def test_every_requirement_is_constrained_at_its_own_version():
    required, constrained = _pins("requirements.txt"), _pins("constraints.txt")
    missing = sorted(set(required) - set(constrained))
    assert not missing, "in requirements.txt, not in constraints.txt (refresh it, CONTRIBUTING.md): %s" % missing
    differ = {n: (v, constrained[n]) for n, v in required.items() if constrained[n] != v}
    assert not differ, "requirements.txt and constraints.txt pin different versions: %s" % differ


def test_the_transitive_dependencies_are_pinned_too():
    constrained = _pins("constraints.txt")
    assert constrained.get("cryptography") == "50.0.2", "51.0 prints a deprecation warning at every ansible start"
    assert len(constrained) > len(_pins("requirements.txt")) + 50, "constraints.txt holds only the direct requirements"
