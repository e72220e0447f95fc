import pathlib
import sys
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / ".collections"))

import json

import pytest


@pytest.fixture
def run_main(capsys):
    """run_main(module.main, **module_args) -> the module's JSON result, with 'rc' its exit code."""
    testing = pytest.importorskip('ansible.module_utils.testing')

    def run(main, **args):
        with testing.patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                main()
        result = json.loads(capsys.readouterr().out)
        result['rc'] = exc.value.code
        return result
    return run
