"""Reference data tables: organisations (shipped geography), GP practices (epraccur) and
postcodes (ONS postcode directory). Replaced wholesale by loaders, never edited by commands."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base


class Organisation(Base):
    __tablename__ = "organisation"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)  # la | icb | sub_icb
    name: Mapped[str] = mapped_column(String(200))
    gss_code: Mapped[str | None] = mapped_column(String(9))
    ods_code: Mapped[str | None] = mapped_column(String(10))
    parent_code: Mapped[str | None] = mapped_column(String(10))
    icb_codes: Mapped[str] = mapped_column(String(60), default="")  # ';'-joined, largest first
    tier: Mapped[str | None] = mapped_column(String(12))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class GpPractice(Base):
    __tablename__ = "gp_practice"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    commissioner_code: Mapped[str | None] = mapped_column(String(10))
    open_date: Mapped[date | None] = mapped_column(Date)
    close_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(1))


class Postcode(Base):
    __tablename__ = "postcode"

    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)
    la_gss: Mapped[str] = mapped_column(String(9))
    sub_icb_code: Mapped[str | None] = mapped_column(String(10))


class OrgSuccession(Base):
    """NHS ODS succession (RULES.md N6): `org_code`'s functions passed to `target_code` on
    `legal_date`; two targets on one date is a split."""

    __tablename__ = "org_succession"

    org_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    target_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    legal_date: Mapped[date] = mapped_column(Date)


class SubIcbParent(Base):
    """Dated sub-ICB location -> ICB (mergers and splits move locations between ICBs)."""

    __tablename__ = "sub_icb_parent"

    sub_icb_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    valid_from: Mapped[date] = mapped_column(Date, primary_key=True)
    icb_code: Mapped[str] = mapped_column(String(10))
