"""住户电话: numbers normalised and masked, the key file made once with mode 0600 and reused."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintenance.residents.phones import PhoneVault, masked, normalised


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("13912345678", "13912345678"),
        ("139 1234 5678", "13912345678"),
        ("+86 139-1234-5678", "13912345678"),
        ("1391234567", None),  # ten digits
        ("12912345678", None),  # no mobile starts 12
        ("02112345678", None),  # a landline
    ],
)
def test_a_typed_number_is_normalised_to_eleven_mobile_digits(
    typed: str, phone: str | None
) -> None:
    assert normalised(typed) == phone


def test_a_phone_is_masked_to_its_first_three_and_last_four() -> None:
    assert masked("13800000002") == "138****0002"


def test_the_key_file_is_made_0600_once_and_read_back(tmp_path: Path) -> None:
    key = tmp_path / "var" / "resident-phone.key"
    first = PhoneVault.at(key)
    assert key.stat().st_mode & 0o777 == 0o600
    cipher = first.encrypt("13912345678")
    assert "13912345678" not in cipher
    made = key.read_bytes()
    again = PhoneVault.at(key)
    assert key.read_bytes() == made
    assert again.decrypt(cipher) == "13912345678"


def test_another_key_cannot_read_a_phone(tmp_path: Path) -> None:
    cipher = PhoneVault.at(tmp_path / "a.key").encrypt("13912345678")
    assert PhoneVault.at(tmp_path / "b.key").decrypt(cipher) is None
