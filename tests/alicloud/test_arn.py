"""RAM ARN parsing and matching: Vault's §3 table, and where wardgate deliberately differs."""

from __future__ import annotations

import msgspec
import pytest

from plugins.alicloud.arn import Arn, ArnType, matches, parse_caller, parse_role_binding

ACCOUNT = "1234567890123456"

ACCT = "5138828231865461"
ELK = f"acs:ram::{ACCT}:role/elk"
ELK_SESSION = f"acs:ram::{ACCT}:assumed-role/elk/vm-ram-i-rj978rorvlg76urhqh7q"


def test_vault_role_arn() -> None:
    arn = parse_role_binding(ELK)
    assert (arn.account, arn.type, arn.name, arn.session) == (ACCT, ArnType.ROLE, "elk", "")
    assert str(arn) == ELK


def test_vault_assumed_role_arn() -> None:
    arn = parse_caller(ELK_SESSION)
    assert arn.account == ACCT
    assert arn.type is ArnType.ASSUMED_ROLE
    assert (arn.name, arn.session) == ("elk", "vm-ram-i-rj978rorvlg76urhqh7q")


def test_region_field_is_ignored() -> None:
    assert parse_role_binding(f"acs:ram:cn-hangzhou:{ACCOUNT}:role/x").name == "x"


def test_user_binding_beyond_vault() -> None:
    arn = parse_role_binding(f"acs:ram::{ACCOUNT}:user/alice")
    assert (arn.type, arn.name) == (ArnType.USER, "alice")


def test_user_and_root_callers() -> None:
    user = parse_caller("acs:ram::1234567890123456:user/alice")
    assert (user.type, user.name) == (ArnType.USER, "alice")
    root = parse_caller("acs:ram::1234567890123456:root")
    assert (root.type, root.account, root.name) == (ArnType.ROOT, "1234567890123456", "")


@pytest.mark.parametrize(
    ("arn", "fragment"),
    [
        ("", "no role binding arn provided"),
        ("acs:ram::1234567890123456:role/", "empty role name"),
        # Vault keeps the session silently.
        ("acs:ram::1234567890123456:role/a/b", "no further segments"),
        # The type is case-sensitive.
        ("acs:ram::1234567890123456:Role/x", "type 'Role' cannot be bound"),
        ("acs:ram::1234567890123456:assumed-role/r/s", "type 'assumed-role' cannot be bound"),
        ("acs:ram::1234567890123456:root", "type 'root' cannot be bound"),
        ("acs:ram::1234567890123456:role", "expected role/<name>"),
        ("arn:ram::1234567890123456:role/x", 'does not begin with "acs:"'),
        ("ACS:ram::1234567890123456:role/x", 'does not begin with "acs:"'),
        ("acs:sts::1234567890123456:role/x", "service is 'sts'"),
        ("acs:ram::1234567890123456:role/a:b", "got 6"),
        ("acs:ram::12ab:role/x", "account '12ab' must be digits"),
        ("acs:ram:::role/x", "account '' must be digits"),
        ("acs:ram::123:role/x", "account '123' is not an Alibaba Cloud account id (16 digits"),
        ("acs:ram::12345678901234567:role/x", "(16 digits, got 17)"),
        ("acs:ram::1234567890123456:role/dev*", "invalid characters"),  # no wildcards in a binding
        ("acs:ram::1234567890123456:role/a b", "invalid characters"),
    ],
)
def test_role_binding_refusals_name_the_input(arn: str, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_role_binding(arn)
    message = str(caught.value)
    assert fragment in message
    assert "<nil>" not in message
    if arn:
        assert repr(arn) in message


@pytest.mark.parametrize(
    ("arn", "fragment"),
    [
        ("acs:ram::1:assumed-role/r/s/t", "expected assumed-role/<role>/<session>"),
        ("acs:ram::1:assumed-role/r", "expected assumed-role/<role>/<session>"),
        ("acs:ram::1:assumed-role/r/", "empty session name"),
        ("acs:ram::1:role/elk", "expected assumed-role"),  # STS never reports a bare role
        ("acs:ram::1:root/x", "expected assumed-role"),
        ("acs:ram::1:user/a/b", "expected assumed-role"),
        ("acs:sts::1:assumed-role/r/s", "service is 'sts'"),
        ("acs:ram::x:root", "must be digits"),
        ("", "no caller arn provided"),
    ],
)
def test_caller_refusals(arn: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("*", r"\*")):
        parse_caller(arn)


def test_non_string_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no role binding arn provided"):
        parse_role_binding(None)
    with pytest.raises(ValueError, match="no caller arn provided"):
        parse_caller(123)


def test_arn_is_frozen() -> None:
    arn = parse_role_binding(ELK)
    with pytest.raises(AttributeError):
        arn.name = "other"  # type: ignore[misc]


# Vault's IsMemberOf cases, with wardgate's case decision.
@pytest.mark.parametrize(
    ("binding", "caller", "expected"),
    [
        (ELK, f"acs:ram::{ACCT}:assumed-role/elk/x", True),
        (ELK, ELK_SESSION, True),
        # Vault: False. wardgate: RAM role names are unique ignoring case, and STS has been
        # seen to lower-case them in assumed-role ARNs, so the role is the same role.
        (ELK, f"acs:ram::{ACCT}:assumed-role/Elk/x", True),
        (
            f"acs:ram::{ACCT}:role/AliyunReservedSSO-Admin",
            f"acs:ram::{ACCT}:assumed-role/aliyunreservedsso-admin/u",
            True,
        ),
        (ELK, "acs:ram::1111111111111111:assumed-role/elk/x", False),  # other account
        (ELK, f"acs:ram::{ACCT}:assumed-role/elk2/x", False),
        (ELK, f"acs:ram::{ACCT}:assumed-role/el/x", False),
        (ELK, f"acs:ram::{ACCT}:user/elk", False),  # a user named like the role
        (ELK, f"acs:ram::{ACCT}:root", False),
        (f"acs:ram::{ACCT}:user/alice", f"acs:ram::{ACCT}:user/alice", True),
        (f"acs:ram::{ACCT}:user/alice", f"acs:ram::{ACCT}:user/Alice", False),  # users: exact
        (f"acs:ram::{ACCT}:user/alice", f"acs:ram::{ACCT}:user/alice2", False),
        (f"acs:ram::{ACCT}:user/alice", "acs:ram::1111111111111111:user/alice", False),
        (f"acs:ram::{ACCT}:user/alice", f"acs:ram::{ACCT}:assumed-role/alice/s", False),
    ],
)
def test_matches(binding: str, caller: str, expected: bool) -> None:
    assert matches(parse_role_binding(binding), parse_caller(caller), []) is expected


def test_a_role_typed_caller_never_matches() -> None:
    # parse_caller refuses role ARNs; even a hand-built one is not a member (Vault's rule).
    fake = Arn(ELK, ACCT, ArnType.ROLE, "elk")
    assert not matches(parse_role_binding(ELK), fake, [])


def test_session_globs_restrict_assumed_role_sessions() -> None:
    binding = parse_role_binding(ELK)
    ecs = parse_caller(ELK_SESSION)
    human = parse_caller(f"acs:ram::{ACCT}:assumed-role/elk/alice")
    assert matches(binding, ecs, ["vm-ram-i-*"])
    assert not matches(binding, human, ["vm-ram-i-*"])
    assert matches(binding, human, ["vm-ram-i-*", "ali?e"])
    assert not matches(binding, human, ["ALICE"])  # fnmatchcase: session names keep case
    assert not matches(binding, ecs, ["vm-ram-i-[!r]*"])


def test_session_globs_with_a_user_binding_fail_closed() -> None:
    binding = parse_role_binding(f"acs:ram::{ACCT}:user/alice")
    user = parse_caller(f"acs:ram::{ACCT}:user/alice")
    assert matches(binding, user, [])
    assert not matches(binding, user, ["*"])


def test_arn_round_trips_through_msgspec() -> None:
    arn = parse_caller(ELK_SESSION)
    assert msgspec.json.decode(msgspec.json.encode(arn), type=Arn) == arn
