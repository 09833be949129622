import re

from sparkdeid.metadata.pseudonyms import Pseudonymizer


def test_uid_is_valid_consistent_and_keyed():
    first, other = Pseudonymizer(b"secret-a"), Pseudonymizer(b"secret-b")
    uid = first.uid("1.2.3.4.5")
    assert re.fullmatch(r"2\.25\.[1-9]\d*", uid) and len(uid) <= 64
    assert first.uid("1.2.3.4.5 ") == uid  # padding does not change identity
    assert Pseudonymizer(b"secret-a").uid("1.2.3.4.5") == uid
    assert other.uid("1.2.3.4.5") != uid
    assert first.uid("1.2.3.4.6") != uid


def test_digits_keep_length_and_names_fold_case():
    pseudo = Pseudonymizer(b"k")
    assert re.fullmatch(r"\d{8}", pseudo.digits("12345678", 8))
    assert pseudo.name("DOE^JANE") == pseudo.name("doe^jane^^") == pseudo.name(" Doe ^Jane")
    assert pseudo.name("DOE^JANE") != pseudo.name("DOE^JOAN")
    assert re.fullmatch(r"[A-Z]+\^[A-Z]+", pseudo.name("x"))


def test_offsets_never_zero_and_bounded():
    pseudo = Pseudonymizer(b"k")
    offsets = [pseudo.offset("date-days", f"patient-{i}", 365) for i in range(2000)]
    assert 0 not in offsets
    assert max(offsets) <= 365 and min(offsets) >= -365
    assert any(o < 0 for o in offsets) and any(o > 0 for o in offsets)


def test_ids_not_recoverable_by_hashing_candidates_without_secret():
    import hashlib

    pseudo = Pseudonymizer(b"a-real-secret")
    mrn = "4821937"
    output = pseudo.digits(mrn, 7)
    unkeyed = {
        hashlib.sha256(mrn.encode()).hexdigest()[:7],
        str(int(hashlib.sha256(mrn.encode()).hexdigest(), 16) % 10**7).zfill(7),
    }
    assert output not in unkeyed
