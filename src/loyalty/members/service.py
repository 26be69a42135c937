"""Registering members, their identifiers and consents, and finding a member by any identifier."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from loyalty.core import identifiers, limits
from loyalty.core.errors import Conflict, FieldProblem, InvalidInput, NotFound
from loyalty.core.events import Event, EventKind
from loyalty.core.instants import Zone, parse_happened_at
from loyalty.engagement.actions import grant_action
from loyalty.ledger import repository as accounts
from loyalty.ledger.account import Account
from loyalty.ledger.model import EntryKind
from loyalty.program import service as programs
from loyalty.referrals import service as referrals
from loyalty.referrals.model import new_code, normalise_code
from loyalty.storage import stamps
from loyalty.storage import tables as t
from loyalty.storage.database import UnitOfWork

IDENTIFIER_KINDS = ("phone", "email", "card", "external_id")
CONSENT_KINDS = ("personal_data", "email", "sms")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def phone_region() -> str:
    return os.environ.get("LOYALTY_PHONE_REGION", "RU")


def normalise_identifier(kind: str, value: object, path: str) -> str:
    """The canonical form of an identifier: phones in E.164, emails in NFKC and case-folded, cards and external
    ids in NFKC; all trimmed. Invisible characters, letters of confusably mixed scripts and a canonical form too
    long for its column are refused (see loyalty.core.identifiers)."""
    if kind not in IDENTIFIER_KINDS:
        raise InvalidInput.at(path, f"unknown identifier kind {kind!r}; expected one of {list(IDENTIFIER_KINDS)}")
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise InvalidInput.at(path, "must be a non-empty string")
    text = identifiers.canonical(str(value), fold_case=kind == "email")
    problem = identifiers.invisible_problem(text)
    if problem is not None:
        raise InvalidInput.at(path, problem)
    if kind == "phone":
        try:
            number = phonenumbers.parse(text, phone_region())
        except phonenumbers.NumberParseException:
            raise InvalidInput.at(path, f"{text!r} is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise InvalidInput.at(path, f"{text!r} is not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind == "email" and not _EMAIL.match(text):
        raise InvalidInput.at(path, f"{text!r} is not an email address")
    if len(text) > limits.IDENTIFIER:
        raise InvalidInput.at(path, f"must be at most {limits.IDENTIFIER} characters (in its canonical form)")
    problem = identifiers.mixed_scripts_problem(text, parts="@." if kind == "email" else "")
    if problem is not None:
        raise InvalidInput.at(path, problem)
    return text


@dataclass(frozen=True)
class Consent:
    kind: str
    granted: bool
    source: str
    at: datetime | None = None


@dataclass
class MemberInput:
    identifiers: dict[str, str]
    name: str | None = None
    gender: str | None = None
    birth_date: date | None = None
    consents: list[Consent] = field(default_factory=list)
    registered_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    referral_code: str | None = None  # the code of the member who referred this one, canonical


def parse_member(data: dict[str, Any], now: datetime | None = None, *, zone: Zone = UTC) -> MemberInput:
    """A member from a JSON-like mapping, with every bad field named. A `registered_at` is read like an order's
    `occurred_at` (not after `now`; a bare date in `zone`, the program's time zone)."""
    problems: list[FieldProblem] = []
    registered_at = None
    if data.get("registered_at") not in (None, ""):
        assert now is not None, "a registered_at is checked against the current time: pass `now`"
        try:
            registered_at = parse_happened_at(data["registered_at"], "registered_at", now, zone=zone)
        except InvalidInput as error:
            problems.extend(error.problems)
    identifiers: dict[str, str] = {}
    for kind in IDENTIFIER_KINDS:
        if data.get(kind) not in (None, ""):
            try:
                identifiers[kind] = normalise_identifier(kind, data[kind], kind)
            except InvalidInput as error:
                problems.extend(error.problems)
    gender = data.get("gender")
    if gender not in (None, "", "female", "male", "other"):
        problems.append(FieldProblem("gender", "must be female, male or other"))
    birth = data.get("birth_date")
    birth_date = None
    if birth not in (None, ""):
        try:
            birth_date = birth if isinstance(birth, date) else date.fromisoformat(str(birth))
        except ValueError:
            problems.append(FieldProblem("birth_date", f"{birth!r} is not a date YYYY-MM-DD"))
    consents = []
    for kind, value in (data.get("consents") or {}).items():
        if kind not in CONSENT_KINDS:
            problems.append(FieldProblem(f"consents.{kind}", f"unknown consent; expected one of {list(CONSENT_KINDS)}"))
        elif not isinstance(value, bool):
            problems.append(FieldProblem(f"consents.{kind}", "must be true or false"))
        else:
            consents.append(Consent(kind, value, str(data.get("source") or "api")))
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > limits.NAME):
        problems.append(FieldProblem("name", f"must be a string of at most {limits.NAME} characters"))
    referral_code = None
    if data.get("referral_code") not in (None, ""):
        try:
            referral_code = normalise_code(data["referral_code"], "referral_code")
        except InvalidInput as error:
            problems.extend(error.problems)
    if not identifiers and not problems:
        problems.append(FieldProblem("", f"a member needs at least one identifier of {list(IDENTIFIER_KINDS)}"))
    if problems:
        raise InvalidInput(problems)
    return MemberInput(
        identifiers,
        name or None,
        gender or None,
        birth_date,
        consents,
        registered_at=registered_at,
        referral_code=referral_code,
    )


EARLIEST_BIRTH_DATE = date(1900, 1, 1)


def check_birth_date(birth_date: date | None, now: datetime) -> None:
    """A birth date must have happened: not after today anywhere on Earth (UTC+14 is a day ahead of much of it),
    and not before 1900."""
    if birth_date is None:
        return
    if birth_date > (now.astimezone(UTC) + timedelta(hours=14)).date():
        raise InvalidInput.at("birth_date", f"{birth_date.isoformat()} is in the future")
    if birth_date < EARLIEST_BIRTH_DATE:
        raise InvalidInput.at("birth_date", f"must be {EARLIEST_BIRTH_DATE.isoformat()} or later")


def register(uow: UnitOfWork, member: MemberInput, now: datetime) -> int:
    """Create a member with an empty account and a referral code of their own, and grant the registration bonus if
    the program has one. With a `referral_code`, record the referral and grant the new member's referral bonus;
    an unknown code, or a program without a referral scheme, is InvalidInput at `referral_code`."""
    check_birth_date(member.birth_date, now)
    taken = find_by_identifiers(uow, member.identifiers)
    if taken:
        kind, value = taken
        raise Conflict(f"{kind} {value} already belongs to another member")
    referrer = referrals.owner_of(uow, member.referral_code, "referral_code") if member.referral_code else None
    registered_at = member.registered_at or now
    member_id = _insert_member(uow, member, registered_at)
    try:
        with uow.conn.begin_nested():
            uow.conn.execute(
                t.member_identifiers.insert(),
                [{"kind": k, "value": v, "member_id": member_id} for k, v in member.identifiers.items()],
            )
    except IntegrityError:
        # A concurrent registration took the identifier after the check above (PostgreSQL); nothing is kept.
        kind, value = find_by_identifiers(uow, member.identifiers) or next(iter(member.identifiers.items()))
        raise Conflict(f"{kind} {value} already belongs to another member") from None
    for consent in member.consents:
        set_consent(uow, member_id, consent, now)
    accounts.open_account(uow, member_id)
    uow.emit(Event(EventKind.MEMBER_REGISTERED, int(member_id), registered_at, {"member_id": int(member_id)}), now)
    try:
        version = programs.version_at(uow, registered_at)
    except programs.NoProgram:
        if referrer is not None:
            raise InvalidInput.at("referral_code", "no program is in force: there is no referral scheme") from None
        return int(member_id)  # registered before any program was in force: there is no bonus to give
    if "registration" in version.program.actions or referrer is not None:
        account = accounts.lock(uow, member_id, now)
        if "registration" in version.program.actions:
            grant_action(uow, account, version, "registration", f"member-{member_id}", registered_at)
        if referrer is not None:
            referrals.record(uow, account, version, referrer[0], referrer[1], registered_at)
        accounts.flush(uow, account)
    return int(member_id)


_CODE_ATTEMPTS = 8


def _insert_member(uow: UnitOfWork, member: MemberInput, registered_at: datetime) -> int:
    """Insert the member's row with a fresh referral code, drawing another when the code is taken (the unique
    index decides, so two registrations at once can never share one)."""
    for _attempt in range(_CODE_ATTEMPTS):
        try:
            with uow.conn.begin_nested():
                key = uow.conn.execute(
                    t.members.insert().values(
                        name=member.name,
                        gender=member.gender,
                        birth_date=member.birth_date,
                        registered_at=registered_at,
                        attributes=member.attributes,
                        referral_code=new_code(),
                    )
                ).inserted_primary_key
        except IntegrityError:
            continue
        assert key is not None
        return int(key[0])
    raise RuntimeError(f"no free referral code after {_CODE_ATTEMPTS} draws")


def update(uow: UnitOfWork, member_id: int, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Change the profile fields given in `data` and record the consents it carries, with time and source."""
    profile(uow, member_id)
    problems: list[FieldProblem] = []
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = data["name"] or None
    if "gender" in data:
        if data["gender"] not in (None, "female", "male", "other"):
            problems.append(FieldProblem("gender", "must be female, male or other"))
        values["gender"] = data["gender"]
    if "birth_date" in data:
        try:
            values["birth_date"] = date.fromisoformat(data["birth_date"]) if data["birth_date"] else None
            check_birth_date(values["birth_date"], now)
        except (TypeError, ValueError):
            problems.append(FieldProblem("birth_date", f"{data['birth_date']!r} is not a date YYYY-MM-DD"))
        except InvalidInput as error:
            problems.extend(error.problems)
    consents = []
    for kind, granted in (data.get("consents") or {}).items():
        if kind not in CONSENT_KINDS:
            problems.append(FieldProblem(f"consents.{kind}", f"unknown consent; expected one of {list(CONSENT_KINDS)}"))
        elif granted is not None:
            consents.append(Consent(kind, bool(granted), str(data.get("source") or "api")))
    if problems:
        raise InvalidInput(problems)
    if values:
        uow.conn.execute(t.members.update().where(t.members.c.member_id == member_id).values(**values))
    for consent in consents:
        set_consent(uow, member_id, consent, now)
    return profile(uow, member_id)


def set_consent(uow: UnitOfWork, member_id: int, consent: Consent, now: datetime) -> None:
    values = {"granted": consent.granted, "at": consent.at or now, "source": consent.source}
    updated = uow.conn.execute(
        t.consents.update()
        .where(t.consents.c.member_id == member_id, t.consents.c.kind == consent.kind)
        .values(**values)
    ).rowcount
    if not updated:
        uow.conn.execute(t.consents.insert().values(member_id=member_id, kind=consent.kind, **values))


def find_by_identifiers(uow: UnitOfWork, identifiers: dict[str, str]) -> tuple[str, str] | None:
    for kind, value in identifiers.items():
        if find(uow, kind, value) is not None:
            return kind, value
    return None


def find(uow: UnitOfWork, kind: str, value: str) -> int | None:
    if kind == "member_id":
        found = uow.conn.execute(select(t.members.c.member_id).where(t.members.c.member_id == int(value))).scalar()
    else:
        found = uow.conn.execute(
            select(t.member_identifiers.c.member_id).where(
                t.member_identifiers.c.kind == kind, t.member_identifiers.c.value == value
            )
        ).scalar()
    return int(found) if found is not None else None


def resolve(uow: UnitOfWork, ref: dict[str, Any], path: str = "member") -> int:
    """The member a reference names: {"member_id": 5} or one identifier such as {"phone": "+7 912 ..."}."""
    kind, value = _reference(ref, path)
    found = find(uow, kind, str(value))
    if found is None:
        raise InvalidInput.at(f"{path}.{kind}", f"no member with {kind} {ref[kind]}")
    return found


def account(uow: UnitOfWork, ref: dict[str, Any], now: datetime, *, lock: bool, path: str = "member") -> Account:
    """The points account of the member a reference names, found and, with `lock`, locked in one statement (the
    account's id is the member's). Errors as resolve() and accounts.lock() give them."""
    kind, value = _reference(ref, path)
    if kind == "member_id":
        row = uow.conn.execute(_LOCK_BY_MEMBER_ID if lock else _READ_BY_MEMBER_ID, {"member_id": value}).first()
    else:
        query = _LOCK_BY_IDENTIFIER if lock else _READ_BY_IDENTIFIER
        row = uow.conn.execute(query, {"kind": kind, "value": value}).first()
    if row is None:
        raise NotFound(f"no points account {resolve(uow, ref, path)}")  # resolve() raises when there is no member
    stamps.remember(uow, row)
    return accounts.of_row(row, now)


def _reference(ref: dict[str, Any], path: str) -> tuple[str, int | str]:
    """The kind of a member reference and its value, an integer id or a normalised identifier."""
    if not isinstance(ref, dict) or len(ref) != 1:
        raise InvalidInput.at(path, "must name the member by exactly one of member_id, phone, email, card, external_id")
    ((kind, value),) = ref.items()
    if kind == "member_id":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput.at(f"{path}.member_id", "must be an integer")
        return kind, value
    return kind, normalise_identifier(kind, value, f"{path}.{kind}")


# A member's account with the member's row or identifier in one statement, and the stamps of the caches the checkout
# consults next (storage.stamps). FOR UPDATE OF accounts locks the account row only (SQLite compiles it to nothing:
# its writing transactions hold the write lock from BEGIN); the members and identifiers it joins never change, so a
# wait for the lock cannot leave the join stale.
_BY_MEMBER_ID = (
    select(t.accounts, *stamps.COLUMNS)
    .join(t.members, t.members.c.member_id == t.accounts.c.account_id)
    .where(t.members.c.member_id == bindparam("member_id"))
)
_BY_IDENTIFIER = (
    select(t.accounts, *stamps.COLUMNS)
    .join(t.member_identifiers, t.member_identifiers.c.member_id == t.accounts.c.account_id)
    .where(t.member_identifiers.c.kind == bindparam("kind"), t.member_identifiers.c.value == bindparam("value"))
)
_READ_BY_MEMBER_ID, _LOCK_BY_MEMBER_ID = _BY_MEMBER_ID, _BY_MEMBER_ID.with_for_update(of=t.accounts)
_READ_BY_IDENTIFIER, _LOCK_BY_IDENTIFIER = _BY_IDENTIFIER, _BY_IDENTIFIER.with_for_update(of=t.accounts)


def profile(uow: UnitOfWork, member_id: int) -> dict[str, Any]:
    row = uow.conn.execute(select(t.members).where(t.members.c.member_id == member_id)).first()
    if row is None:
        raise InvalidInput.at("member_id", f"no member {member_id}")
    identifiers = uow.conn.execute(
        select(t.member_identifiers.c.kind, t.member_identifiers.c.value).where(
            t.member_identifiers.c.member_id == member_id
        )
    )
    consent_rows = uow.conn.execute(select(t.consents).where(t.consents.c.member_id == member_id))
    return {
        "member_id": member_id,
        "name": row.name,
        "gender": row.gender,
        "birth_date": row.birth_date.isoformat() if row.birth_date else None,
        "registered_at": row.registered_at.isoformat(),
        "referral_code": row.referral_code,
        "identifiers": {r.kind: r.value for r in identifiers},
        "consents": {c.kind: {"granted": c.granted, "at": c.at.isoformat(), "source": c.source} for c in consent_rows},
    }


__all__ = ["EntryKind", "MemberInput", "parse_member", "profile", "register", "resolve"]
