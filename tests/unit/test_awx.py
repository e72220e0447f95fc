"""AWX objects as code (awx/), the execution environment and the apply playbook, offline.

The survey validator below applies the same rules AWX applies at launch
(required, min/max length, choices) plus the `validation` pattern each question
carries in awx/surveys.yml (AWX has no pattern check; the playbooks' preflight
enforces the same rules). A question that AWX would accept and the playbook
refuse, or the other way round, shows up here before it shows up at 3 a.m.
"""
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.yieldvault.db_restore.plugins.module_utils.catalog import parse_point

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
PLAYBOOKS = {"playbooks/restore.yml", "playbooks/rollback.yml", "playbooks/drill.yml", "playbooks/backup.yml",
             "playbooks/prune.yml"}


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads Ansible's !unsafe tag as the plain string it marks."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _load(path):
    with open(path) as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


@pytest.fixture(scope="module")
def controller():
    return _load(REPO / "awx" / "controller.yml")


@pytest.fixture(scope="module")
def surveys():
    return _load(REPO / "awx" / "surveys.yml")["yv_awx_surveys"]


def validate_answers(survey, answers):
    """Errors for `answers` (dict variable -> value) against an AWX survey with our patterns; [] when valid."""
    errors = []
    for q in survey["spec"]:
        var = q["variable"]
        if var in answers:
            value = answers[var]
        elif q.get("default") not in (None, ""):
            value = q["default"]
        else:
            if q["required"]:
                errors.append("%s: value missing" % var)
            continue
        if q["type"] in ("text", "textarea", "password"):
            if not isinstance(value, str):
                errors.append("%s: expected a string" % var)
                continue
            if "min" in q and len(value) < int(q["min"]):
                errors.append("%s: too short (at least %s)" % (var, q["min"]))
            if "max" in q and len(value) > int(q["max"]):
                errors.append("%s: too long (at most %s)" % (var, q["max"]))
        if q["type"] == "multiplechoice" and value not in q["choices"]:
            errors.append("%s: not one of %s" % (var, q["choices"]))
        rule = q.get("validation")
        # An empty optional answer means "not given"; only given answers are checked for shape.
        if rule and value != "" and not re.match(rule["pattern"], value):
            errors.append("%s: must be %s" % (var, rule["message"]))
    return errors


# ---- the definitions load and refer to each other consistently -------------

def test_job_templates_refer_to_known_playbooks_surveys_credentials_and_notifications(controller, surveys):
    credential_names = {c["name"] for c in controller["yv_awx_credentials"]}
    notification_names = {n["name"] for n in controller["yv_awx_notification_templates"]}
    names = [jt["name"] for jt in controller["yv_awx_job_templates"]]
    assert len(names) == len(set(names))
    assert {n.split(": ", 1)[1] for n in names} == {"Restore", "Rollback", "Drill", "Backup", "Base backup", "Prune",
                                                    "Restore the whole cluster", "Roll back the whole cluster"}
    for jt in controller["yv_awx_job_templates"]:
        assert jt["playbook"] in PLAYBOOKS, jt["name"]
        assert jt["survey"] == "" or jt["survey"] in surveys, jt["name"]
        assert set(jt["credentials"]) <= credential_names, jt["name"]
        for event in ("started", "success", "error"):
            assert set(jt["notify"][event]) <= notification_names, (jt["name"], event)
        assert jt["notify"]["error"], "%s: nobody hears about a failure" % jt["name"]
    # the playbooks that exist today are the ones the templates name
    assert (REPO / "playbooks" / "restore.yml").is_file()


def test_restore_and_rollback_surveys_require_confirm_and_drill_does_not(surveys):
    by_var = {name: {q["variable"]: q for q in s["spec"]} for name, s in surveys.items()}
    for name in ("restore", "rollback"):
        assert set(by_var[name]) == {"point", "backup", "incident", "confirm"}
        assert by_var[name]["confirm"]["required"] is True
        assert by_var[name]["confirm"]["min"] >= 1
        assert by_var[name]["confirm"]["default"] == "", "a default confirm would defeat its purpose"
    assert "confirm" not in by_var["drill"], "a drill never drops production; asking to confirm trains people to type it"


def test_whole_cluster_templates_set_the_scope_and_ask_for_the_stanza(controller, surveys):
    """The whole-cluster templates pass pitr_scope=cluster themselves, and their confirmation is the stanza's name
    (roles/preflight/tasks/confirm.yml), with no default; the database templates never set a scope."""
    templates = {jt["name"]: jt for jt in controller["yv_awx_job_templates"]}
    for name, playbook in (("DB: Restore the whole cluster", "playbooks/restore.yml"),
                           ("DB: Roll back the whole cluster", "playbooks/rollback.yml")):
        jt = templates[name]
        assert jt["playbook"] == playbook and jt["extra_vars"] == {"pitr_scope": "cluster"}
        confirm = next(q for q in surveys[jt["survey"]]["spec"] if q["variable"] == "confirm")
        assert confirm["required"] is True and confirm["default"] == "" and "stanza" in confirm["question_name"]
        assert "backup" not in {q["variable"] for q in surveys[jt["survey"]]["spec"]}, "refused with pitr_scope=cluster"
    assert "pitr_scope" not in templates["DB: Restore"].get("extra_vars", {})
    assert validate_answers(surveys["cluster_restore"], {"point": "2026-04-29T14:37:12Z", "incident": "INC-1",
                                                         "confirm": "main"}) == []
    assert validate_answers(surveys["cluster_rollback"], {"incident": "INC-1", "confirm": "main cluster"}) != []


def test_surveys_have_the_shape_awx_accepts(surveys):
    # the checks of AWX's JobTemplateSurveySpec._validate_spec_data
    for name, survey in surveys.items():
        assert isinstance(survey["name"], str) and isinstance(survey["description"], str)
        assert isinstance(survey["spec"], list) and survey["spec"], name
        variables = [q["variable"] for q in survey["spec"]]
        assert len(variables) == len(set(variables)), name
        for q in survey["spec"]:
            for key in ("type", "question_name", "variable", "required"):
                assert key in q, (name, q.get("variable"), key)
            assert q["type"] in AWX_TYPES
            assert isinstance(q["required"], bool)
            if q["type"] == "text" and q.get("default"):
                assert q["min"] <= len(q["default"]) <= q["max"], (name, q["variable"])
            if "validation" in q:
                re.compile(q["validation"]["pattern"])
                assert q["validation"]["message"]


def test_credential_type_injects_the_documented_variables_as_a_secret(controller):
    (pg_type,) = controller["yv_awx_credential_types"]
    fields = {f["id"]: f for f in pg_type["inputs"]["fields"]}
    assert fields["login_password"].get("secret") is True
    assert set(pg_type["inputs"]["required"]) <= set(fields)
    injected = pg_type["injectors"]["extra_vars"]
    assert injected["db_restore_login_password"] == "{{ login_password }}"
    for template in injected.values():
        for used in re.findall(r"{{\s*(\w+)\s*}}", template):
            assert used in fields
    documented = _load(REPO / "docs" / "variables.yml")["variables"]
    assert set(injected) <= set(documented)


def test_no_secret_value_is_kept_in_the_definitions(controller):
    for obj in controller["yv_awx_credentials"] + controller["yv_awx_notification_templates"]:
        held = obj.get("inputs", {}) if "inputs" in obj else obj.get("notification_configuration", {})
        for key in obj["secret_inputs"]:
            assert key not in held, "%s keeps %s in git" % (obj["name"], key)
        for var in obj["secret_inputs"].values():
            assert var.startswith("yv_awx_")


def test_weekly_drill_schedule(controller):
    from dateutil import rrule

    (schedule,) = [s for s in controller["yv_awx_schedules"] if s["name"] == "Weekly restore drill"]
    assert schedule["job_template"] in {jt["name"] for jt in controller["yv_awx_job_templates"]}
    drill = next(jt for jt in controller["yv_awx_job_templates"] if jt["name"] == schedule["job_template"])
    assert drill["playbook"] == "playbooks/drill.yml"
    # AWX's form: one DTSTART with a zone and one RRULE, separated by a space
    dtstart, rule = schedule["rrule"].split(" ")
    assert dtstart.startswith("DTSTART;TZID=") and rule.startswith("RRULE:")
    assert "COUNT" not in rule and "FREQ=WEEKLY" in rule
    occurrences = list(rrule.rrulestr(schedule["rrule"].replace(" ", "\n")).xafter(
        dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc), count=3))
    assert [o.weekday() for o in occurrences] == [0, 0, 0]
    assert all((o.hour, o.minute) == (3, 0) and o.utcoffset() == dt.timedelta(0) for o in occurrences)
    assert {(b - a).days for a, b in zip(occurrences, occurrences[1:])} == {7}
    assert validate_answers(_load(REPO / "awx" / "surveys.yml")["yv_awx_surveys"]["drill"],
                            schedule["extra_data"]) == []


def _occurrences(schedule, after, count):
    from dateutil import rrule

    return list(rrule.rrulestr(schedule["rrule"].replace(" ", "\n")).xafter(after, count=count))


def test_every_schedule_passes_only_what_its_job_template_survey_asks(controller, surveys):
    # AWX refuses a schedule's extra_data that neither the survey asks nor ask_variables_on_launch allows (false here).
    templates = {jt["name"]: jt for jt in controller["yv_awx_job_templates"]}
    for schedule in controller["yv_awx_schedules"]:
        jt = templates[schedule["job_template"]]
        assert jt["survey"], schedule["name"]
        asked = {q["variable"] for q in surveys[jt["survey"]]["spec"]}
        assert set(schedule["extra_data"]) <= asked, schedule["name"]
        assert validate_answers(surveys[jt["survey"]], schedule["extra_data"]) == [], schedule["name"]


def test_base_backup_template_and_schedules_reach_the_backup_role_with_a_type_it_takes(controller, surveys):
    from ansible_collections.yieldvault.db_restore.plugins.module_utils.pgbackrest import BASE_BACKUP_TYPES

    (jt,) = [jt for jt in controller["yv_awx_job_templates"] if jt["name"] == "DB: Base backup"]
    assert jt["playbook"] == "playbooks/backup.yml"
    play = _load(REPO / jt["playbook"])
    assert [r["role"] for r in play[0]["roles"]] == ["yieldvault.db_restore.backup"]
    # The survey's variable is the extra var the backup role maps onto db_restore_base_backup.
    (question,) = surveys[jt["survey"]]["spec"]
    documented = _load(REPO / "docs" / "variables.yml")["variables"]["db_restore_base_backup"]
    assert documented["default"] == "{{ %s | default('') }}" % question["variable"]
    assert "backup" in documented["roles"]
    spec = _load(REPO / "roles" / "backup" / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec["db_restore_base_backup"]["default"] == documented["default"]
    assert set(question["choices"]) == set(BASE_BACKUP_TYPES)

    schedules = {s["extra_data"]["base_backup"]: s for s in controller["yv_awx_schedules"]
                 if s["job_template"] == jt["name"]}
    assert set(schedules) == {"full", "diff", "incr"}
    week = dt.datetime(2026, 5, 3, tzinfo=dt.timezone.utc)  # a Sunday
    full = _occurrences(schedules["full"], week, 3)
    assert [(o.weekday(), o.hour, o.minute) for o in full] == [(6, 1, 0)] * 3
    diff = [o for o in _occurrences(schedules["diff"], week, 12) if o < full[1]]
    assert sorted(o.weekday() for o in diff) == [0, 1, 2, 3, 4, 5], "a diff every day but the full's"
    assert all((o.hour, o.minute) == (1, 0) for o in diff)
    incr = _occurrences(schedules["incr"], week, 48)
    assert {(b - a) for a, b in zip(incr, incr[1:])} == {dt.timedelta(hours=1)}
    # No two of them, nor the drill, start in the same minute.
    starts = [o for s in controller["yv_awx_schedules"] for o in _occurrences(s, week, 200) if o < full[1]]
    assert len(starts) == len(set(starts))
    for schedule in schedules.values():
        dtstart, rule = schedule["rrule"].split(" ")
        assert dtstart.startswith("DTSTART;TZID=UTC:") and rule.startswith("RRULE:") and "COUNT" not in rule


# ---- surveys against sample answers -----------------------------------------

SAMPLES = [
    ("restore", {"point": "2026-04-29T14:30:00Z", "incident": "INC-1234", "confirm": "yieldvault_prod"}, []),
    ("restore", {"incident": "INC-1234", "confirm": "yieldvault_prod"}, []),  # point defaults to latest
    ("restore", {"point": "LATEST", "incident": "INC-1", "confirm": "yieldvault_prod"}, []),
    ("restore", {"point": "2026-04-29 14:30:00+02:00", "incident": "INC-1", "confirm": "db"}, []),
    ("restore", {"point": "2026-04-29", "backup": "yieldvault_prod_20260429_1430.dump",
                 "incident": "JIRA/OPS-7", "confirm": "yieldvault_prod"}, []),
    ("restore", {"point": "latest", "incident": "INC-1234"}, ["confirm"]),
    ("restore", {"point": "latest", "incident": "INC-1234", "confirm": ""}, ["confirm"]),
    ("restore", {"point": "latest", "incident": "INC-1234", "confirm": "yieldvault prod"}, ["confirm"]),
    ("restore", {"point": "yesterday", "incident": "INC-1234", "confirm": "yieldvault_prod"}, ["point"]),
    ("restore", {"point": "29/04/2026 14:30", "incident": "INC-1234", "confirm": "yieldvault_prod"}, ["point"]),
    ("restore", {"point": "", "incident": "INC-1234", "confirm": "yieldvault_prod"}, ["point"]),
    ("restore", {"point": "latest", "confirm": "yieldvault_prod"}, ["incident"]),
    ("restore", {"point": "latest", "incident": "INC 12", "confirm": "yieldvault_prod"}, ["incident"]),
    ("restore", {"backup": "prod.sql", "incident": "INC-1", "confirm": "yieldvault_prod"}, ["backup"]),
    ("rollback", {"incident": "INC-1234", "confirm": "yieldvault_prod"}, []),
    ("rollback", {"point": "", "backup": "", "incident": "INC-1234", "confirm": "yieldvault_prod"}, []),
    ("rollback", {"point": "2026-04-29T14:00Z", "incident": "INC-1234", "confirm": "yieldvault_prod"}, []),
    ("rollback", {"point": "soon", "incident": "INC-1234", "confirm": "yieldvault_prod"}, ["point"]),
    ("rollback", {"incident": "INC-1234"}, ["confirm"]),
    ("drill", {}, []),
    ("drill", {"point": "2026-04-29T14:30:00.123456Z", "incident": ""}, []),
    ("drill", {"point": "2026-04-29T14:30:00Z junk"}, ["point"]),
    ("drill", {"drill_pick": "random"}, []),
    ("drill", {"drill_pick": "point", "point": "2026-04-29T03:00:00Z"}, []),
    ("drill", {"drill_pick": "sometimes"}, ["drill_pick"]),
]


@pytest.mark.parametrize("survey,answers,bad", SAMPLES, ids=["%s-%d" % (s[0], i) for i, s in enumerate(SAMPLES)])
def test_survey_answers(surveys, survey, answers, bad):
    errors = validate_answers(surveys[survey], answers)
    assert sorted({e.split(":")[0] for e in errors}) == sorted(bad), errors


POINTS_THE_PARSER_TAKES = [
    "latest", "Latest", "2026-04-29", "2026-04-29T14:30", "2026-04-29T14:30:00", "2026-04-29T14:30:00Z",
    "2026-04-29t14:30:00z", "2026-04-29 14:30:00+02:00", "2026-04-29T14:30:00-0530", "2026-04-29T14:30:00+02",
    "2026-04-29T14:30:00.5Z", "2026-04-29T14:30:00,123456+00:00", "2026-04-29 14:30 Z",
]
GARBAGE = ["yesterday", "now", "2026/04/29", "29-04-2026", "2026-04-29T14", "2026-04-29T14:30:00ZZ", "1714400000",
           "latest please", "2026-4-29"]


def test_point_pattern_takes_everything_the_restore_parser_takes(surveys):
    pattern = next(q for q in surveys["restore"]["spec"] if q["variable"] == "point")["validation"]["pattern"]
    far_future = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    for point in POINTS_THE_PARSER_TAKES:
        parse_point(point, far_future)  # the playbook accepts it ...
        assert re.match(pattern, point), "the survey would refuse %r, which the restore accepts" % point
    for point in GARBAGE:
        with pytest.raises(ValueError):
            parse_point(point, far_future)
        assert not re.match(pattern, point), point


# ---- the apply playbook and the execution environment -----------------------

def test_apply_playbook_passes_syntax_check():
    res = subprocess.run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", "awx/apply.yml", "-i", "localhost,"],
                         cwd=str(REPO), capture_output=True, text=True, timeout=120,
                         env={"PATH": "%s:/usr/bin:/bin" % VENV_BIN, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                              "HOME": str(Path.home())})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "WARNING" not in res.stderr, res.stderr


def test_apply_playbook_uses_awx_modules_that_exist():
    pytest.importorskip("ansible_collections.awx.awx")
    import ansible_collections.awx.awx.plugins.modules as awx_modules

    text = (REPO / "awx" / "apply.yml").read_text()
    used = set(re.findall(r"^\s+awx\.awx\.(\w+):", text, re.M))
    assert used, "apply.yml no longer uses awx.awx"
    available = {p.stem for p in Path(awx_modules.__file__).parent.glob("*.py")}
    assert used <= available, used - available


@pytest.fixture(scope="module")
def ee_context(tmp_path_factory):
    builder = shutil.which("ansible-builder", path=str(VENV_BIN)) or shutil.which("ansible-builder")
    if not builder:
        pytest.fail("ansible-builder is not installed (requirements.txt pins it); run make setup", pytrace=False)
    context = tmp_path_factory.mktemp("ee") / "context"
    res = subprocess.run([builder, "create", "-f", str(REPO / "execution-environment.yml"), "-c", str(context),
                          "--output-filename", "Containerfile"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return context


def test_execution_environment_context(ee_context):
    containerfile = (ee_context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="registry.example.invalid/' in containerfile  # the documented placeholder
    assert "ansible-galaxy collection install" in containerfile
    assert "pg_restore --version" in containerfile

    galaxy = yaml.safe_load((ee_context / "_build" / "requirements.yml").read_text())["collections"]
    names = {c["name"] for c in galaxy}
    assert "/build/collections/yieldvault/db_restore" in names
    repo_galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert set(repo_galaxy["dependencies"]) <= names, "a dependency of the collection is missing from the EE"

    python = (ee_context / "_build" / "requirements.txt").read_text().split()
    pins = {line.split("==")[0]: line for line in (REPO / "requirements.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    for package in ("psycopg2-binary", "boto3", "botocore"):
        assert pins[package] in python, "EE and requirements.txt disagree on %s" % package
    assert "postgresql-client-15 [platform:dpkg]" in (ee_context / "_build" / "bindep.txt").read_text()
    for ref in ("ansible-core", "ansible-runner"):
        assert pins[ref] in containerfile, "EE and requirements.txt disagree on %s" % ref

    # the collection itself, complete enough for ansible-galaxy to install it from the directory
    coll = ee_context / "_build" / "collections" / "yieldvault" / "db_restore"
    built = yaml.safe_load((coll / "galaxy.yml").read_text())
    assert (built["namespace"], built["name"], built["version"]) == (
        repo_galaxy["namespace"], repo_galaxy["name"], repo_galaxy["version"])
    for part in ("meta/runtime.yml", "playbooks/restore.yml", "roles/preflight/tasks/main.yml",
                 "plugins/modules/backup_catalog.py", "plugins/module_utils/catalog.py"):
        assert (coll / part).is_file(), part


# ---- awx/apply.yml against a stand-in controller API ------------------------

class FakeController:
    """Just enough of /api/v2 for the awx.awx modules: list with field filters, create, patch,
    associate/disassociate, survey_spec. Built-in credential types are there, as in AWX."""

    def __init__(self):
        self.objects = {}  # collection -> {id: obj}
        self.sub = {}  # (collection, id, sub) -> [ids] or survey dict
        self.next_id = 1
        self.requests = []
        for name, kind in (("Machine", "ssh"), ("Amazon Web Services", "cloud")):
            self._create("credential_types", {"name": name, "kind": kind, "managed": True})

    def _create(self, coll, data):
        obj = dict(data, id=self.next_id, url="/api/v2/%s/%d/" % (coll, self.next_id), scm_revision="",
                   summary_fields={}, type=coll.rstrip("s"))
        obj["related"] = {"survey_spec": obj["url"] + "survey_spec/"}
        self.objects.setdefault(coll, {})[self.next_id] = obj
        self.next_id += 1
        return obj

    def find(self, coll, **fields):
        return [o for o in self.objects.get(coll, {}).values() if all(o.get(k) == v for k, v in fields.items())]

    def handle(self, method, path, query, body):
        from urllib.parse import parse_qsl

        self.requests.append((method, path))
        parts = [p for p in path.split("/") if p][2:]  # drop api, v2
        if not parts:
            return 200, {}
        coll = parts[0]
        if method == "GET" and len(parts) == 1:
            filters = {k: v for k, v in parse_qsl(query) if not k.startswith(("or__", "page"))}
            if coll == "unified_job_templates":
                pool = [o for c in ("job_templates", "projects", "inventory_sources")
                        for o in self.objects.get(c, {}).values()]
            else:
                pool = list(self.objects.get(coll, {}).values())
            found = [o for o in pool if all(str(o.get(k)) == v for k, v in filters.items())]
            return 200, {"count": len(found), "results": found, "next": None}
        if method == "POST" and len(parts) == 1:
            return 201, self._create(coll, body)
        obj = self.objects.get(coll, {}).get(int(parts[1]))
        if obj is None:
            return 404, {"detail": "not found"}
        if len(parts) == 2:
            if method == "PATCH":
                obj.update(body)
            return 200, obj
        key = (coll, obj["id"], parts[2])
        if parts[2] == "survey_spec":
            if method == "POST":
                self.sub[key] = body
            return 200, self.sub.get(key, {})
        ids = self.sub.setdefault(key, [])
        if method == "GET":
            return 200, {"count": len(ids), "results": [{"id": i} for i in ids], "next": None}
        if body.get("disassociate"):
            ids.remove(body["id"])
        else:
            ids.append(body["id"])
        return 204, None


@pytest.fixture
def fake_controller():
    import http.server
    import threading

    api = FakeController()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self):
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            if self.headers.get("Authorization") != "Bearer test-token":
                status, payload = 401, {"detail": "no token"}
            else:
                status, payload = api.handle(self.command, path, query, body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = "http://127.0.0.1:%d" % server.server_address[1]
    yield api
    server.shutdown()
    server.server_close()


def _apply(api, tmp_path, secrets):
    # as docs/awx.md says to write the vault file: secrets !unsafe, so a "{{" in one is never templated
    extra = tmp_path / "secrets.yml"
    extra.write_text("".join("%s: !unsafe %s\n" % (k, json.dumps(v))
                             for k, v in dict(secrets, yv_awx_controller_token="test-token").items()))
    res = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "awx/apply.yml", "-i", "localhost,", "-e", "@%s" % extra,
         "-e", "yv_awx_controller_url=%s" % api.url, "-e", "yv_awx_scm_url=https://git.example.invalid/db_restore.git",
         "-e", "yv_awx_ee_image=registry.example.invalid/db-restore-ee:0.1.0",
         "-e", "ansible_python_interpreter=%s" % sys.executable],
        cwd=str(REPO), capture_output=True, text=True, timeout=300,
        env={"PATH": "%s:/usr/bin:/bin" % VENV_BIN, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
             "HOME": str(Path.home()), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "ANSIBLE_NOCOLOR": "1"})
    return res


def test_apply_playbook_against_a_stand_in_controller(fake_controller, tmp_path, surveys):
    api = fake_controller
    secrets = {"yv_awx_pg_admin_password": "pg-{{ not templated }}-s3cret", "yv_awx_ssh_private_key": "KEY-s3cret",
               "yv_awx_aws_access_key": "AKIA-s3cret", "yv_awx_aws_secret_key": "aws-s3cret",
               "yv_awx_slack_token": "xoxb-s3cret"}
    res = _apply(api, tmp_path, secrets)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    for value in secrets.values():
        assert value not in out, "a secret is in the apply output"

    (pg_type,) = api.find("credential_types", name="YieldVault PostgreSQL admin")
    assert pg_type["injectors"]["extra_vars"]["db_restore_login_password"] == "{{ login_password }}"
    (pg_cred,) = api.find("credentials", name="YieldVault PostgreSQL admin")
    assert pg_cred["credential_type"] == pg_type["id"]
    assert pg_cred["inputs"] == {"login_user": "postgres", "login_password": secrets["yv_awx_pg_admin_password"]}
    (aws,) = api.find("credentials", name="YieldVault backups (AWS)")
    assert aws["inputs"] == {"username": "AKIA-s3cret", "password": "aws-s3cret"}

    # only the notification whose secret was given exists
    assert [n["name"] for n in api.find("notification_templates")] == ["YieldVault Slack"]
    (slack,) = api.find("notification_templates")
    assert slack["notification_configuration"]["token"] == "xoxb-s3cret"

    # job templates exist for the playbooks in this checkout, surveys uploaded without our validation keys
    present = {jt["name"] for jt in api.find("job_templates")}
    expected = {"DB: " + n for n, f in (("Restore", "restore"), ("Rollback", "rollback"), ("Drill", "drill"),
                                        ("Backup", "backup"), ("Base backup", "backup"), ("Prune", "prune"),
                                        ("Restore the whole cluster", "restore"),
                                        ("Roll back the whole cluster", "rollback"))
                if (REPO / "playbooks" / ("%s.yml" % f)).is_file()}
    assert present == expected
    (cluster,) = api.find("job_templates", name="DB: Restore the whole cluster")
    extra = cluster["extra_vars"]
    assert (json.loads(extra) if isinstance(extra, str) else extra) == {"pitr_scope": "cluster"}
    (restore,) = api.find("job_templates", name="DB: Restore")
    assert restore["playbook"] == "playbooks/restore.yml" and restore["survey_enabled"] is True
    assert restore["allow_simultaneous"] is False
    spec = api.sub[("job_templates", restore["id"], "survey_spec")]
    assert [q["variable"] for q in spec["spec"]] == [q["variable"] for q in surveys["restore"]["spec"]]
    assert not any("validation" in q for q in spec["spec"])
    creds = api.sub[("job_templates", restore["id"], "credentials")]
    assert sorted(creds) == sorted(c["id"] for c in api.find("credentials"))
    assert api.sub[("job_templates", restore["id"], "notification_templates_error")] == [slack["id"]]
    schedules = api.find("schedules")
    assert len(schedules) == len([s for s in _load(REPO / "awx" / "controller.yml")["yv_awx_schedules"]
                                  if s["job_template"] in present])
    (base,) = api.find("job_templates", name="DB: Base backup")
    assert base["playbook"] == "playbooks/backup.yml" and base["survey_enabled"] is True
    assert {s["extra_data"]["base_backup"] for s in schedules if s["unified_job_template"] == base["id"]} == {
        "full", "diff", "incr"}

    # a second run changes nothing
    again = _apply(api, tmp_path, secrets)
    assert again.returncode == 0, again.stdout[-6000:]
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0 ", again.stdout), again.stdout[-3000:]
