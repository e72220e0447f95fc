import pathlib
import sys
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / ".collections"))

import json

import pytest


@pytest.fixture
def run_main(capsys):
    """run_main(module.main, **module_args) -> the module's JSON result, with 'rc' its exit code."""
    testing = pytest.importorskip('ansible.module_utils.testing')

    from ansible.module_utils import _internal

    def run(main, **args):
        # Once a test imported controller code (a callback plugin, ansible.utils.display), ansible-core treats the
        # process as the controller and sends module warnings to the display instead of the result: a module
        # runs on the target, so make it look like one.
        saved = _internal.is_controller
        _internal.is_controller = False
        try:
            with testing.patch_module_args(args):
                with pytest.raises(SystemExit) as exc:
                    main()
        finally:
            _internal.is_controller = saved
        result = json.loads(capsys.readouterr().out)
        result['rc'] = exc.value.code
        return result
    return run
