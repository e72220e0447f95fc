"""Unit tests for module_utils/pm2.py: pm2 jlist parsing and the pm2_process decisions.

The samples are real `pm2 jlist` output (PM2 6.0.14, Node 20) captured while
running tests/fixtures/backend/server.js, trimmed to the fields that matter;
each keeps a (fake) password in its environment, which must never reach a
module result.
"""

import json

import pytest

from ansible_collections.yieldvault.db_restore.plugins.module_utils import pm2

# Captured samples. JLIST_MULTI: a stopped app, an app that errored after
# crash-looping (BACKEND_FAIL_START=1) and a 2-instance cluster-mode app.
# JLIST_EMPTY_NEW_DAEMON: first `pm2 jlist` of a fresh PM2_HOME: banner and
# daemon messages on stdout before the JSON.
JLIST_ONLINE = '[{"pid":26159,"name":"yieldvault-backend","pm2_env":{"autorestart":true,"env":{"PGPASSWORD":"s3cret-from-jlist","PORT":"38111"},"namespace":"default","name":"yieldvault-backend","exec_mode":"fork_mode","instances":1,"pm_out_log_path":"/tmp/h1/pm2home/logs/yieldvault-backend-out.log","pm_err_log_path":"/tmp/h1/pm2home/logs/yieldvault-backend-error.log","NODE_APP_INSTANCE":0,"status":"online","pm_uptime":1795522809701,"created_at":1795522809701,"pm_id":0,"restart_time":0,"unstable_restarts":0,"version":"1.0.0","node_version":"20.20.2","PGPASSWORD":"s3cret-from-jlist"},"pm_id":0,"monit":{"memory":65200128,"cpu":26.9}}]'

JLIST_STOPPED = '[{"pid":0,"name":"yieldvault-backend","pm2_env":{"autorestart":true,"env":{"PGPASSWORD":"s3cret-from-jlist","PORT":"38111"},"namespace":"default","name":"yieldvault-backend","exec_mode":"fork_mode","instances":1,"pm_out_log_path":"/tmp/h1/pm2home/logs/yieldvault-backend-out.log","pm_err_log_path":"/tmp/h1/pm2home/logs/yieldvault-backend-error.log","NODE_APP_INSTANCE":0,"status":"stopped","pm_uptime":1795522809701,"created_at":1795522809701,"pm_id":0,"restart_time":0,"unstable_restarts":0,"version":"1.0.0","node_version":"20.20.2","exit_code":0,"PGPASSWORD":"s3cret-from-jlist"},"pm_id":0,"monit":{"memory":0,"cpu":0}}]'

JLIST_MULTI = '[{"pid":0,"name":"yieldvault-backend","pm2_env":{"autorestart":true,"env":{"PGPASSWORD":"s3cret-from-jlist","PORT":"38111"},"namespace":"default","name":"yieldvault-backend","exec_mode":"fork_mode","instances":1,"pm_out_log_path":"/tmp/h1/pm2home/logs/yieldvault-backend-out.log","pm_err_log_path":"/tmp/h1/pm2home/logs/yieldvault-backend-error.log","NODE_APP_INSTANCE":0,"status":"stopped","pm_uptime":1795522809701,"created_at":1795522809701,"pm_id":0,"restart_time":0,"unstable_restarts":0,"version":"1.0.0","node_version":"20.20.2","exit_code":0,"PGPASSWORD":"s3cret-from-jlist"},"pm_id":0,"monit":{"memory":0,"cpu":0}},{"pid":0,"name":"failing","pm2_env":{"exit_code":1,"node_version":"20.20.2","version":"1.0.0","unstable_restarts":0,"restart_time":15,"pm_id":1,"created_at":null,"pm_uptime":1795522824995,"status":"errored","NODE_APP_INSTANCE":0,"pm_err_log_path":"/tmp/h1/pm2home/logs/failing-error.log","pm_out_log_path":"/tmp/h1/pm2home/logs/failing-out.log","instances":1,"exec_mode":"fork_mode","name":"failing","namespace":"default","env":{"PGPASSWORD":"s3cret-from-jlist","PORT":"38112"},"autorestart":true,"PGPASSWORD":"s3cret-from-jlist"},"pm_id":1,"monit":{"memory":0,"cpu":0}},{"pid":26487,"name":"clustered","pm2_env":{"autorestart":true,"instances":2,"env":{"PGPASSWORD":"s3cret-from-jlist","PORT":"38113"},"namespace":"default","name":"clustered","exec_mode":"cluster_mode","pm_out_log_path":"/tmp/h1/pm2home/logs/clustered-out-2.log","pm_err_log_path":"/tmp/h1/pm2home/logs/clustered-error-2.log","NODE_APP_INSTANCE":0,"status":"online","pm_uptime":1795522824547,"created_at":1795522824547,"pm_id":2,"restart_time":0,"unstable_restarts":0,"version":"1.0.0","node_version":"20.20.2","PGPASSWORD":"s3cret-from-jlist"},"pm_id":2,"monit":{"memory":66498560,"cpu":5.5}},{"pid":26502,"name":"clustered","pm2_env":{"autorestart":true,"instances":2,"env":{"PGPASSWORD":"s3cret-from-jlist","PORT":"38113"},"namespace":"default","name":"clustered","exec_mode":"cluster_mode","pm_out_log_path":"/tmp/h1/pm2home/logs/clustered-out-3.log","pm_err_log_path":"/tmp/h1/pm2home/logs/clustered-error-3.log","NODE_APP_INSTANCE":1,"status":"online","pm_uptime":1795522824733,"created_at":1795522824733,"pm_id":3,"restart_time":0,"unstable_restarts":0,"version":"1.0.0","node_version":"20.20.2","PGPASSWORD":"s3cret-from-jlist"},"pm_id":3,"monit":{"memory":66363392,"cpu":13}}]'

JLIST_EMPTY_NEW_DAEMON = '\n                        -------------\n\n__/\\\\\\\\\\\\\\\\\\\\\\\\\\____/\\\\\\\\____________/\\\\\\\\____/\\\\\\\\\\\\\\\\\\_____\n _\\/\\\\\\/////////\\\\\\_\\/\\\\\\\\\\\\________/\\\\\\\\\\\\__/\\\\\\///////\\\\\\___\n  _\\/\\\\\\_______\\/\\\\\\_\\/\\\\\\//\\\\\\____/\\\\\\//\\\\\\_\\///______\\//\\\\\\__\n   _\\/\\\\\\\\\\\\\\\\\\\\\\\\\\/__\\/\\\\\\\\///\\\\\\/\\\\\\/_\\/\\\\\\___________/\\\\\\/___\n    _\\/\\\\\\/////////____\\/\\\\\\__\\///\\\\\\/___\\/\\\\\\________/\\\\\\//_____\n     _\\/\\\\\\_____________\\/\\\\\\____\\///_____\\/\\\\\\_____/\\\\\\//________\n      _\\/\\\\\\_____________\\/\\\\\\_____________\\/\\\\\\___/\\\\\\/___________\n       _\\/\\\\\\_____________\\/\\\\\\_____________\\/\\\\\\__/\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\_\n        _\\///______________\\///______________\\///__\\///////////////__\n\n\n                          Runtime Edition\n\n        PM2 is a Production Process Manager for Node.js applications\n                     with a built-in Load Balancer.\n\n                Start and Daemonize any application:\n                $ pm2 start app.js\n\n                Load Balance 4 instances of api.js:\n                $ pm2 start api.js -i 4\n\n                Monitor in production:\n                $ pm2 monitor\n\n                Make pm2 auto-boot at server restart:\n                $ pm2 startup\n\n                To go further checkout:\n                http://pm2.io/\n\n\n                        -------------\n\n\x1b[32m[PM2] \x1b[39mSpawning PM2 daemon with pm2_home=/tmp/h1/pm2home\n\x1b[32m[PM2] \x1b[39mPM2 Successfully daemonized\n[]'


def test_parse_plain_json():
    procs = pm2.parse_jlist(JLIST_ONLINE)
    assert [p["name"] for p in procs] == ["yieldvault-backend"]


def test_parse_banner_before_empty_list():
    assert "Spawning PM2 daemon" in JLIST_EMPTY_NEW_DAEMON
    assert pm2.parse_jlist(JLIST_EMPTY_NEW_DAEMON) == []


def test_parse_warnings_around_json():
    text = ("\x1b[31m[PM2][WARN]\x1b[39m Current process list is not synchronized with saved list.\n"
            + JLIST_STOPPED + "\n>>>> In-memory PM2 is out-of-date, do:\n>>>> $ pm2 update\n")
    procs = pm2.parse_jlist(text)
    assert procs[0]["pm2_env"]["status"] == "stopped"


def test_parse_empty_daemon_list():
    assert pm2.parse_jlist("[]\n") == []


@pytest.mark.parametrize("text", ["", "   \n", None, "[PM2] not json at all", '{"a": 1}', "[1, 2]"])
def test_parse_rejects_garbage(text):
    with pytest.raises(pm2.Pm2OutputError):
        pm2.parse_jlist(text)


def test_summary_of_online_process_keeps_no_environment():
    (inst,) = pm2.find_instances(pm2.parse_jlist(JLIST_ONLINE), "yieldvault-backend")
    assert inst["status"] == "online"
    assert inst["pid"] == 26159 and inst["pm_id"] == 0 and inst["restarts"] == 0
    assert inst["uptime_since"].endswith("Z") and inst["uptime_since"].startswith("2026-11-24T")
    assert inst["err_log_path"].endswith("yieldvault-backend-error.log")
    out = pm2.report([inst])
    assert "s3cret-from-jlist" not in json.dumps(out)
    assert out["instances"] == 1 and out["status"] == "online" and out["pid"] == 26159


def test_stopped_process_has_no_pid_and_no_uptime():
    (inst,) = pm2.find_instances(pm2.parse_jlist(JLIST_STOPPED), "yieldvault-backend")
    assert inst["pid"] is None
    assert inst["uptime_since"] is None
    assert inst["status"] == "stopped"


def test_cluster_instances_reported_together():
    procs = pm2.parse_jlist(JLIST_MULTI)
    insts = pm2.find_instances(procs, "clustered")
    assert [i["pm_id"] for i in insts] == [2, 3]
    out = pm2.report(insts)
    assert out["instances"] == 2 and out["status"] == "online"
    assert [p["pm_id"] for p in out["processes"]] == [2, 3]
    assert pm2.process_names(procs) == ["yieldvault-backend", "failing", "clustered"]


def test_errored_process():
    (inst,) = pm2.find_instances(pm2.parse_jlist(JLIST_MULTI), "failing")
    assert inst["status"] == "errored" and inst["restarts"] == 15


def test_missing_message_lists_names():
    procs = pm2.parse_jlist(JLIST_MULTI)
    assert pm2.find_instances(procs, "yieldvault-api") == []
    msg = pm2.missing_message("yieldvault-api", pm2.process_names(procs))
    assert msg == ("No PM2 process named yieldvault-api (pm2 list has: yieldvault-backend, failing, clustered). "
                   "Fix the service name in db_restore_services. Nothing was changed.")
    assert "has: nothing" in pm2.missing_message("x", [])


def _inst(status, restarts=0, pm_id=0):
    return {"pm_id": pm_id, "pid": 1 if status == "online" else None, "status": status, "restarts": restarts,
            "uptime_since": None, "out_log_path": None, "err_log_path": None}


@pytest.mark.parametrize("statuses,expected", [
    (["online"], "online"),
    (["stopped", "stopped"], "stopped"),
    (["online", "stopped"], "stopped"),
    (["online", "errored"], "errored"),
    (["online", "launching"], "launching"),
    ([], "missing"),
])
def test_aggregate_status(statuses, expected):
    assert pm2.aggregate_status(statuses) == expected


@pytest.mark.parametrize("state,statuses,action", [
    ("present", ["online"], None),
    ("present", ["stopped"], None),
    ("stopped", ["online"], "stop"),
    ("stopped", ["stopped"], None),
    ("stopped", ["errored"], None),
    ("stopped", ["stopped", "online"], "stop"),
    ("stopped", ["waiting restart"], "stop"),
    ("started", ["online", "online"], None),
    ("started", ["stopped"], "start"),
    ("started", ["errored"], "start"),
    ("started", ["online", "stopped"], "start"),
    ("restarted", ["online"], "restart"),
    ("restarted", ["stopped"], "restart"),
])
def test_plan(state, statuses, action):
    assert pm2.plan(state, [_inst(s, pm_id=i) for i, s in enumerate(statuses)]) == action


def test_plan_rejects_unknown_state():
    with pytest.raises(ValueError):
        pm2.plan("running", [_inst("online")])


def test_evaluate_start():
    base = {0: 5}
    assert pm2.evaluate_start([_inst("online", 5)], base)[0] == "online"
    # pm2 restart itself counts one restart.
    assert pm2.evaluate_start([_inst("online", 6)], base)[0] == "online"
    assert pm2.evaluate_start([_inst("launching", 5)], base)[0] == "waiting"
    assert pm2.evaluate_start([_inst("online", 7)], base)[0] == "waiting"
    verdict, detail = pm2.evaluate_start([_inst("online", 9)], base)
    assert verdict == "failed" and "keeps restarting" in detail
    verdict, detail = pm2.evaluate_start([_inst("errored", 20)], base)
    assert verdict == "failed" and "errored" in detail and "20" in detail
    assert pm2.evaluate_start([], base)[0] == "failed"


def test_evaluate_stop():
    assert pm2.evaluate_stop([_inst("stopped"), _inst("errored", pm_id=1)])[0] == "stopped"
    assert pm2.evaluate_stop([_inst("stopping")]) == ("waiting", "status stopping")


@pytest.mark.parametrize("value,expected", [
    (1795522809701, "2026-11-24T12:20:09Z"),
    (0, None), (None, None), ("x", None), (True, None),
])
def test_iso_from_ms(value, expected):
    assert pm2.iso_from_ms(value) == expected


def test_default_pm2_home():
    assert pm2.default_pm2_home({"PM2_HOME": "/srv/pm2"}) == "/srv/pm2"
    assert pm2.default_pm2_home({"HOME": "/home/deploy"}) == "/home/deploy/.pm2"


def test_tail_lines(tmp_path):
    log = tmp_path / "err.log"
    log.write_text("".join("line %d\n" % i for i in range(100)))
    assert pm2.tail_lines(str(log), 3) == ["line 97", "line 98", "line 99"]
    # Reading only the end of a big file drops the partial first line.
    assert pm2.tail_lines(str(log), 1000, max_bytes=20) == ["line 98", "line 99"]
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert pm2.tail_lines(str(empty), 20) == []
