"""Which regional register serves which council (GSS) and ICB (ODS).

A register serves one NHS England region (`S117_REGION`, the region's ODS code, e.g. `Y56`
London, `Y60` Midlands). By default an ICB is served by the register of its NHS England region
and a council by the register of the ICB that covers most of it (the shipped geography);
a site may override any code with a file of `code,region` rows (`S117_FEDERATION_ROUTES`),
e.g. a council that has agreed to be served by its neighbour's register.

Pure: the table is built from records the caller reads (register.refdata.shipped, a CSV).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from register.errors import InvalidData


@dataclass(frozen=True)
class Region:
    code: str  # NHS England region ODS code (Y56 ...)
    name: str


@dataclass(frozen=True)
class RoutingTable:
    regions: Mapping[str, Region]
    served_by: Mapping[str, str]  # GSS or ODS code -> region code
    overridden: frozenset[str] = field(default_factory=frozenset)

    def region_of(self, code: str | None) -> str | None:
        return self.served_by.get(code) if code else None

    def known(self, region: str) -> bool:
        return region in self.regions

    def peers_for(self, home: str, bodies: Iterable[str | None]) -> list[str]:
        """The other registers that serve any of these bodies (responsible LA and ICB,
        the council where the person lives): they keep a replica."""
        found = {self.region_of(b) for b in bodies}
        return sorted(r for r in found if r is not None and r != home)

    def served(self, region: str) -> tuple[list[str], list[str]]:
        """The councils (GSS, `E0...`) and ICBs (ODS) one register serves."""
        codes = sorted(c for c, r in self.served_by.items() if r == region)
        return [c for c in codes if c[:1] == "E"], [c for c in codes if c[:1] != "E"]


def build(regions: Iterable[Region], icb_regions: Mapping[str, str],
          la_icbs: Mapping[str, str], overrides: Mapping[str, str] | None = None
          ) -> RoutingTable:
    """`icb_regions` ICB ODS -> region; `la_icbs` LA GSS -> the ICB covering most of it;
    `overrides` code -> region, from the site's file."""
    table = {r.code: r for r in regions}
    served = dict(icb_regions)
    served.update({la: icb_regions[icb] for la, icb in la_icbs.items() if icb in icb_regions})
    for code, region in (overrides or {}).items():
        if region not in table:
            raise InvalidData(f"routing override {code}={region}: {region} is not an NHS "
                              f"England region ({', '.join(sorted(table))})",
                              field="S117_FEDERATION_ROUTES")
        served[code] = region
    return RoutingTable(table, served, frozenset(overrides or ()))


def parse_overrides(lines: Iterable[str], where: str) -> dict[str, str]:
    """`code,region` rows (a header row `code,region` and `#` comments allowed)."""
    found: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text or text.replace(" ", "").lower() == "code,region":
            continue
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 2 or not all(parts):
            raise InvalidData(f"{where} line {number}: expected 'code,region', "
                              f"got {text!r}", field="S117_FEDERATION_ROUTES")
        found[parts[0]] = parts[1]
    return found
