"""Reference data held in dictionaries: the shipped geography plus given postcodes and
practices. Used by unit tests and anywhere a database is not wanted."""

from __future__ import annotations

from datetime import date

from register.refdata.postcodes import normalise_postcode
from register.refdata.shipped import OrganisationRecord, organisations, successions_2022


class InMemoryRefData:
    def __init__(self, orgs: dict[str, OrganisationRecord],
                 postcodes: dict[str, tuple[str, str | None]],
                 practices: dict[str, tuple[str | None, date | None, date | None]],
                 practice_names: dict[str, str] | None = None,
                 successions: dict[str, list[tuple[str, date]]] | None = None,
                 sub_icb_parents: dict[str, list[tuple[str, date]]] | None = None) -> None:
        self.orgs = orgs
        self.postcodes = postcodes
        self.practices = practices
        self.practice_names = practice_names or {}
        self.succession = successions or {}
        self.sub_icb_parents = sub_icb_parents or {}

    @classmethod
    def from_shipped(cls, *, postcodes: dict[str, tuple[str, str | None]],
                     practices: dict[str, str]) -> InMemoryRefData:
        """`postcodes`: postcode -> (laua GSS, sub-ICB ODS or None);
        `practices`: practice ODS -> commissioning sub-ICB ODS (always open)."""
        orgs = {o.code: o for o in organisations()}
        normal = {normalise_postcode(p) or p: v for p, v in postcodes.items()}
        chains: dict[str, list[tuple[str, date]]] = {}
        for org, target, legal in successions_2022():
            chains.setdefault(org, []).append((target, legal))
        return cls(orgs, normal, {p: (c, None, None) for p, c in practices.items()},
                   successions=chains)

    def add_succession(self, org: str, target: str, legal: date,
                       target_name: str | None = None) -> None:
        """N6 in tests: `org`'s functions pass to `target` on `legal` (a new body if named)."""
        self.succession.setdefault(org, []).append((target, legal))
        if target_name and target not in self.orgs:
            self.orgs[target] = OrganisationRecord(target, "icb", target_name, ods_code=target)

    def add_sub_icb_parent(self, sub_icb: str, icb: str, valid_from: date) -> None:
        self.sub_icb_parents.setdefault(sub_icb, []).append((icb, valid_from))

    def la_for_postcode(self, postcode: str) -> str | None:
        hit = self.postcodes.get(normalise_postcode(postcode) or postcode)
        return hit[0] if hit else None

    def sub_icb_for_postcode(self, postcode: str) -> str | None:
        hit = self.postcodes.get(normalise_postcode(postcode) or postcode)
        return hit[1] if hit else None

    def social_services_authority(self, la_gss: str) -> str:
        org = self.orgs.get(la_gss)
        # A district's social services duties sit with its county; codes outside England
        # (Wales W06, Scotland S12) are returned as given for the rules to flag.
        return org.parent_code if org and org.tier == "district" and org.parent_code else la_gss

    def commissioner_for_practice(self, practice_ods: str, on: date) -> str | None:
        hit = self.practices.get(practice_ods.upper())
        if hit is None:
            return None
        commissioner, opened, closed = hit
        if (opened and on < opened) or (closed and on > closed):
            return None
        return commissioner

    def icb_for_sub_icb(self, sub_icb_ods: str, on: date | None = None) -> str | None:
        dated = [(f, icb) for icb, f in self.sub_icb_parents.get(sub_icb_ods.upper(), ())
                 if on is None or f <= on]
        if dated:
            return max(dated)[1]
        org = self.orgs.get(sub_icb_ods.upper())
        return org.parent_code if org and org.kind == "sub_icb" else None

    def successors(self, code: str) -> tuple[tuple[str, date], ...]:
        return tuple(self.succession.get(code.upper(), ()))

    def icbs_for_la(self, la_gss: str) -> tuple[str, ...]:
        org = self.orgs.get(la_gss)
        return org.icb_codes if org and org.kind == "la" else ()

    def name(self, code: str) -> str | None:
        org = self.orgs.get(code)
        return org.name if org else self.practice_names.get(code)
