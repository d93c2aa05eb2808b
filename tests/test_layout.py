"""The test suite mirrors the library, and its shared fixtures do not depend on the checkout's state."""

import shutil

from medimg.config.presets import preset_names, use_preset
from tests.conftest import REPO, tiny_params


def test_tests_medimg_has_one_folder_per_library_package():
    packages = {p.parent.name for p in (REPO / "medimg").glob("*/__init__.py")}
    folders = {p.parent.name for p in (REPO / "tests/medimg").glob("*/__init__.py")}
    assert folders <= packages, f"test folders without a package: {sorted(folders - packages)}"
    untested = (
        packages - folders - {"demo", "pipeline", "pacs", "team"}
    )  # tested in tests/flows, tests/pacs, tests/team
    assert not untested, f"library packages without a test folder: {sorted(untested)}"
    at_root = {p.name for p in (REPO / "tests/medimg").glob("test_*.py")}
    assert at_root <= {"test_cli.py", "test_offline_imports.py"}  # the library root's entry points


def test_the_fixture_project_is_the_same_whichever_preset_params_yaml_is_on(tmp_path):
    reference = tiny_params(tmp_path)
    for name in preset_names():
        switched = tmp_path / f"{name}.yaml"
        shutil.copy2(REPO / "params.yaml", switched)
        use_preset(name, switched)
        assert tiny_params(tmp_path, switched) == reference, name
