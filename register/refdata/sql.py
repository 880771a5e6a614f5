"""Reference data read from the database, cached per process (it changes only when an
operator runs `s117 refdata load`; `clear()` forgets the cache)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from register.refdata.postcodes import normalise_postcode
from register.refdata.shipped import OrganisationRecord
from register.store.refdata_tables import (
    GpPractice,
    Organisation,
    OrgSuccession,
    Postcode,
    SubIcbParent,
)


class SqlRefData:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.clear()

    def clear(self) -> None:
        self._orgs: dict[str, OrganisationRecord] | None = None
        self._postcodes: dict[str, tuple[str, str | None] | None] = {}
        self._practices: dict[str, GpPracticeView | None] = {}
        self._chains: tuple[dict[str, list[tuple[str, date]]],
                            dict[str, list[tuple[str, date]]]] | None = None

    @property
    def chains(self) -> tuple[dict[str, list[tuple[str, date]]],
                              dict[str, list[tuple[str, date]]]]:
        """(successions, dated sub-ICB parents), read once: both tables are small."""
        if self._chains is None:
            successions: dict[str, list[tuple[str, date]]] = {}
            parents: dict[str, list[tuple[str, date]]] = {}
            with self.sessions() as session:
                for s in session.scalars(select(OrgSuccession)):
                    successions.setdefault(s.org_code, []).append((s.target_code, s.legal_date))
                for p in session.scalars(select(SubIcbParent)):
                    parents.setdefault(p.sub_icb_code, []).append((p.icb_code, p.valid_from))
            self._chains = successions, parents
        return self._chains

    @property
    def orgs(self) -> dict[str, OrganisationRecord]:
        if self._orgs is None:
            with self.sessions() as session:
                self._orgs = {
                    o.code: OrganisationRecord(
                        o.code, o.kind, o.name, o.gss_code, o.ods_code, o.parent_code,
                        tuple(c for c in o.icb_codes.split(";") if c), o.tier, o.valid_from,
                        o.valid_to)
                    for o in session.scalars(select(Organisation))}
        return self._orgs

    def _postcode(self, postcode: str) -> tuple[str, str | None] | None:
        key = normalise_postcode(postcode) or postcode
        if key not in self._postcodes:
            with self.sessions() as session:
                row = session.get(Postcode, key)
                self._postcodes[key] = (row.la_gss, row.sub_icb_code) if row else None
        return self._postcodes[key]

    def _practice(self, code: str) -> GpPracticeView | None:
        key = code.upper()
        if key not in self._practices:
            with self.sessions() as session:
                row = session.get(GpPractice, key)
                self._practices[key] = GpPracticeView(row.name, row.commissioner_code,
                                                      row.open_date, row.close_date) \
                    if row else None
        return self._practices[key]

    def la_for_postcode(self, postcode: str) -> str | None:
        hit = self._postcode(postcode)
        return hit[0] if hit else None

    def sub_icb_for_postcode(self, postcode: str) -> str | None:
        hit = self._postcode(postcode)
        return hit[1] if hit else None

    def social_services_authority(self, la_gss: str) -> str:
        org = self.orgs.get(la_gss)
        return org.parent_code if org and org.tier == "district" and org.parent_code else la_gss

    def commissioner_for_practice(self, practice_ods: str, on: date) -> str | None:
        practice = self._practice(practice_ods)
        if practice is None or (practice.opened and on < practice.opened) or (
                practice.closed and on > practice.closed):
            return None
        return practice.commissioner

    def icb_for_sub_icb(self, sub_icb_ods: str, on: date | None = None) -> str | None:
        dated = [(f, icb) for icb, f in self.chains[1].get(sub_icb_ods.upper(), ())
                 if on is None or f <= on]
        if dated:
            return max(dated)[1]
        org = self.orgs.get(sub_icb_ods.upper())
        return org.parent_code if org and org.kind == "sub_icb" else None

    def successors(self, code: str) -> tuple[tuple[str, date], ...]:
        return tuple(self.chains[0].get(code.upper(), ()))

    def icbs_for_la(self, la_gss: str) -> tuple[str, ...]:
        org = self.orgs.get(la_gss)
        return org.icb_codes if org and org.kind == "la" else ()

    def name(self, code: str) -> str | None:
        org = self.orgs.get(code)
        if org:
            return org.name
        practice = self._practice(code) if len(code) == 6 else None
        return practice.name if practice else None


@dataclass(frozen=True, slots=True)
class GpPracticeView:
    name: str
    commissioner: str | None
    opened: date | None
    closed: date | None
