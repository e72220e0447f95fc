"""docs/report-schema.md, the report role and the restore_report filter say the same about report.json.

The role gathers the run's state (roles/report/tasks/main.yml), the filter turns it into report.json
(plugins/filter/report.py), the page documents it: a key added, removed or renamed in one of them and not the
others fails here."""
import pathlib
import re

from ansible_collections.yieldvault.db_restore.plugins.filter import report as rp
from test_report_filter import facts

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "report-schema.md").read_text()
ROLE = (ROOT / "roles" / "report" / "tasks" / "main.yml").read_text()
FILTER = (ROOT / "plugins" / "filter" / "report.py").read_text()
CALLBACK = (ROOT / "plugins" / "callback" / "restore_timeline.py").read_text()


def documented(section):
    """The keys of a table of the page: the first column of the rows under '## <section>'."""
    body = DOC.split("## %s\n" % section, 1)[1].split("\n## ", 1)[0]
    return [m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", body, re.M)]


def test_every_key_of_report_json_is_documented_and_every_documented_key_is_written():
    written = list(rp.restore_report(facts()))
    # timeline: added afterwards by the restore_timeline callback
    assert 'report["timeline"]' in CALLBACK
    assert documented("Top level") == written + ["timeline"]


def test_every_metric_is_documented_in_its_order():
    assert documented("metrics") == list(rp.restore_report(facts())["metrics"])


def test_the_role_gathers_what_the_filter_reads_and_nothing_else():
    gathered = set(re.findall(r"^ {8}'(\w+)':", ROLE, re.M))
    read = set(re.findall(r'facts(?:\.get\(|\[)"(\w+)"', FILTER))
    assert len(gathered) > 30, "the role's report dictionary was not found"
    assert gathered - read == set(), "gathered for the report, read by no one"
    # warnings: the filter's own, extended by any the facts carry
    assert read - gathered == {"warnings"}, "read by the filter, gathered by no one (always empty)"


def test_the_schema_test_fails_on_drift():
    """The page's parser sees a key that is added, and the comparison then fails."""
    extra = DOC.replace("| `run_id` |", "| `run_identifier` | string | x |\n| `run_id` |")
    body = extra.split("## Top level\n", 1)[1].split("\n## ", 1)[0]
    keys = [m.group(1) for m in re.finditer(r"^\| `(\w+)` \|", body, re.M)]
    assert "run_identifier" in keys and keys != list(rp.restore_report(facts())) + ["timeline"]
