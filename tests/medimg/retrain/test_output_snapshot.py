"""take_snapshot / restore_snapshot put files and folders back byte for byte, including absent ones."""

from medimg.retrain.snapshot import restore_snapshot, take_snapshot


def test_restore_undoes_changes_additions_and_deletions(tmp_path):
    root = tmp_path / "project"
    (root / "models/freeze").mkdir(parents=True)
    (root / "models/freeze/ckpt.pt").write_bytes(b"good weights")
    (root / "dvc.lock").write_text("schema: '2.0'\n")
    members = ["models", "dvc.lock", "artifacts"]  # artifacts does not exist yet
    store = take_snapshot(root, members, tmp_path / "store")

    (root / "models/freeze/ckpt.pt").write_bytes(b"half-written")
    (root / "models/unfreeze").mkdir()
    (root / "models/unfreeze/ckpt.pt").write_bytes(b"new")
    (root / "dvc.lock").unlink()
    (root / "artifacts").mkdir()
    (root / "artifacts/model.onnx").write_bytes(b"new model")
    restore_snapshot(root, members, store)

    assert (root / "models/freeze/ckpt.pt").read_bytes() == b"good weights"
    assert not (root / "models/unfreeze").exists()
    assert (root / "dvc.lock").read_text() == "schema: '2.0'\n"
    assert not (root / "artifacts").exists()


def test_a_new_snapshot_replaces_the_old_one(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "a.txt").write_text("one")
    take_snapshot(root, ["a.txt"], tmp_path / "store")
    (root / "a.txt").write_text("two")
    store = take_snapshot(root, ["a.txt"], tmp_path / "store")
    (root / "a.txt").write_text("three")
    restore_snapshot(root, ["a.txt"], store)
    assert (root / "a.txt").read_text() == "two"
    assert not (tmp_path / "store.partial").exists()
