from medimg.ingest.deid import load_salt, pseudonym


def test_salt_file_is_generated_once_private_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("MEDIMG_TEST_SALT", raising=False)
    path = tmp_path / ".medimg" / "salt"
    first = load_salt("MEDIMG_TEST_SALT", path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_salt("MEDIMG_TEST_SALT", path) == first
    monkeypatch.setenv("MEDIMG_TEST_SALT", "site-secret-from-env")
    assert load_salt("MEDIMG_TEST_SALT", path) == b"site-secret-from-env"


def test_pseudonyms_depend_on_salt_and_kind_and_hide_the_value():
    key = pseudonym(b"salt-one-0123456789", "patient", "MRN1234567")
    assert key == pseudonym(b"salt-one-0123456789", "patient", "MRN1234567")
    assert key != pseudonym(b"salt-two-0123456789", "patient", "MRN1234567")
    assert key != pseudonym(b"salt-one-0123456789", "series", "MRN1234567")
    assert "1234567" not in key and key.startswith("pa")
