"""One typed bundle: written once, read by one loader that refuses other schema versions clearly
and still reads the old file name, with a warning."""

import json
import warnings

import pytest

from medimg.deploy.bundle import (
    BUNDLE_FILE,
    LEGACY_BUNDLE_FILE,
    SCHEMA_VERSION,
    BundleError,
    load_bundle_spec,
    write_bundle,
)
from medimg.io.problems import InputError
from tests.bundles import bundle_spec


def _spec():
    return bundle_spec("classification", 3, ["absent", "present"], (16, 16, 16))


def test_a_written_bundle_reads_back_equal_and_carries_its_schema_version(tmp_path):
    spec = _spec()
    write_bundle(spec, tmp_path)
    raw = json.loads((tmp_path / BUNDLE_FILE).read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert "workers" not in raw["preprocess"] and "registered_model" not in raw
    assert load_bundle_spec(tmp_path) == spec


@pytest.mark.parametrize(
    ("version", "says"),
    [(SCHEMA_VERSION + 1, "newer than this medimg reads"), (0, "older than this medimg reads")],
)
def test_a_bundle_of_another_schema_version_is_refused_with_what_to_do(tmp_path, version, says):
    write_bundle(_spec(), tmp_path)
    raw = json.loads((tmp_path / BUNDLE_FILE).read_text())
    (tmp_path / BUNDLE_FILE).write_text(json.dumps({**raw, "schema_version": version}))
    with pytest.raises(BundleError, match=says) as failure:
        load_bundle_spec(tmp_path)
    assert str(tmp_path / BUNDLE_FILE) in str(failure.value)
    assert isinstance(failure.value, InputError)  # the command line prints it as one line


def test_a_bundle_json_without_a_version_is_older(tmp_path):
    write_bundle(_spec(), tmp_path)
    raw = json.loads((tmp_path / BUNDLE_FILE).read_text())
    del raw["schema_version"]
    (tmp_path / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="older than bundle schema"):
        load_bundle_spec(tmp_path)


def test_the_old_file_name_is_read_with_a_deprecation_warning(tmp_path):
    spec = _spec()
    write_bundle(spec, tmp_path)
    raw = json.loads((tmp_path / BUNDLE_FILE).read_text())
    del raw["schema_version"]  # the old preprocess.json had none
    (tmp_path / BUNDLE_FILE).unlink()
    (tmp_path / LEGACY_BUNDLE_FILE).write_text(json.dumps(raw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_bundle_spec(tmp_path) == spec
    assert any(
        issubclass(w.category, FutureWarning) and "old name of bundle.json" in str(w.message)
        for w in caught
    )


def test_a_missing_field_or_no_bundle_names_the_file(tmp_path):
    with pytest.raises(BundleError, match="bundle.json: missing"):
        load_bundle_spec(tmp_path)
    write_bundle(_spec(), tmp_path)
    raw = json.loads((tmp_path / BUNDLE_FILE).read_text())
    del raw["temperature"]  # read with a silent default of 1.0 before the bundle was typed
    (tmp_path / BUNDLE_FILE).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="temperature: Field required"):
        load_bundle_spec(tmp_path)
