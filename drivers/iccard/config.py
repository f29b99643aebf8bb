"""Configuration of the IC-card reader and its APDU profile.

Electricity purchase cards (购电卡) differ by province in where the account
number lives, so the steps to reach it are configuration: a list of SELECT and
READ BINARY commands, then which bytes of which read hold the account and how
they are encoded::

    >>> profile = ApduProfile.model_validate({
    ...     "name": "example",
    ...     "steps": [{"select_fid": "3F00"}, {"select_fid": "0015"}, {"read_offset": 0, "read_length": 16}],
    ...     "account": {"offset": 2, "length": 10, "encoding": "bcd"},
    ... })
    >>> profile.steps[1].select_fid, profile.account.encoding
    ('0015', 'bcd')
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HEX = r"^([0-9A-Fa-f]{2})+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApduStep(_Strict):
    """One command: exactly one of ``select_aid``, ``select_fid`` or ``read_length`` (with ``read_offset``)."""

    select_aid: str | None = Field(
        None, title="Select by AID", description="SELECT by DF name (00 A4 04 00), hex.", pattern=HEX, max_length=32
    )
    select_fid: str | None = Field(
        None,
        title="Select by file id",
        description="SELECT by file identifier (00 A4 00 00), 4 hex digits.",
        pattern=r"^[0-9A-Fa-f]{4}$",
    )
    read_offset: int = Field(
        0, ge=0, le=0x7FFF, title="Read offset", description="READ BINARY offset in the selected EF."
    )
    read_length: int | None = Field(
        None, ge=1, le=256, title="Read length", description="READ BINARY length (Le) in bytes."
    )

    @model_validator(mode="after")
    def _one(self) -> ApduStep:
        chosen = [self.select_aid is not None, self.select_fid is not None, self.read_length is not None]
        if sum(chosen) != 1:
            raise ValueError("a step is exactly one of select_aid, select_fid or read_length")
        return self


class AccountField(_Strict):
    """Where the account number is in the bytes read, and how it is written."""

    read: int = Field(
        -1,
        ge=-16,
        le=15,
        title="Read",
        description="Which READ BINARY result holds the account, by position among the reads (-1 = the last).",
    )
    offset: int = Field(0, ge=0, le=255, title="Offset", description="First byte of the account in that read.")
    length: int = Field(..., ge=1, le=32, title="Length", description="Bytes the account occupies.")
    encoding: Literal["bcd", "ascii"] = Field(
        "bcd", title="Encoding", description="bcd: two digits per byte, F nibbles pad; ascii: one character per byte."
    )
    strip_leading_zeros: bool = Field(
        False, title="Strip leading zeros", description="Drop leading zeros (cards that right-align the number)."
    )


class ApduProfile(_Strict):
    name: str = Field(..., title="Name", description="Which card layout this is (province, issuer).", max_length=64)
    steps: list[ApduStep] = Field(
        ..., title="Steps", description="Commands sent in order after the card is connected.", min_length=1
    )
    account: AccountField = Field(..., title="Account", description="Where the account number is.")

    @model_validator(mode="after")
    def _has_read(self) -> ApduProfile:
        reads = sum(step.read_length is not None for step in self.steps)
        if reads == 0:
            raise ValueError("the profile has no read_length step, so there is nothing to decode")
        if not -reads <= self.account.read < reads:
            raise ValueError(f"account.read {self.account.read} names no read (the profile has {reads})")
        return self


EXAMPLE_PROFILE = ApduProfile(
    name="example prepaid electricity card",
    steps=[
        ApduStep(select_fid="3F00"),
        ApduStep(select_aid="D15600000501"),
        ApduStep(select_fid="0015"),
        ApduStep(read_offset=0, read_length=32),
    ],
    account=AccountField(offset=0, length=10, encoding="bcd"),
)
"""A plausible layout used by the demo and tests; each province configures its own."""


class IcCardConfig(_Strict):
    """``[services.devices.iccard]``."""

    enabled: bool = Field(True, title="Enabled", description="Watch PC/SC readers for IC cards.")
    reader_pattern: str = Field(
        ".*",
        title="Reader name pattern",
        description="Regular expression; readers whose PC/SC name matches it are watched.",
        min_length=1,
        max_length=200,
    )
    poll_interval: float = Field(
        0.5, ge=0.05, le=10.0, title="Poll interval", description="Seconds between reader and card state checks."
    )
    lock_wait_s: float = Field(
        5.0,
        ge=0.2,
        le=60.0,
        title="Wait for a held card",
        description="Seconds to wait for a card another PC/SC client holds (a transaction) before reporting it busy; "
        "the card is tried again while it stays in the reader.",
    )
    profile: ApduProfile = Field(
        EXAMPLE_PROFILE, title="APDU profile", description="How to reach and decode the account number."
    )
    name: str = Field("iccard", title="Unit name", description="Device name in health reports.", max_length=32)
