"""The federation routing table from the shipped geography (NHS England regions of ICBs, the
main ICB of each council), with a site's overrides file on top (register.federation.routing)."""

from __future__ import annotations

from pathlib import Path

from register.errors import InvalidData
from register.federation.routing import Region, RoutingTable, build, parse_overrides
from register.refdata.shipped import _rows


def routing_table(overrides: str | None = None) -> RoutingTable:
    regions: dict[str, Region] = {}
    icb_regions: dict[str, str] = {}
    for row in _rows("icbs.csv"):
        regions[row["nhs_region_ods_code"]] = Region(row["nhs_region_ods_code"],
                                                     row["nhs_region_name"])
        icb_regions[row["ods_code"]] = row["nhs_region_ods_code"]
    la_icbs = {row["gss_code"]: row["icb_ods_code"] for row in _rows("local_authorities.csv")
               if row["icb_ods_code"] and not row["valid_to"]}
    extra: dict[str, str] = {}
    if overrides:
        path = Path(overrides)
        if not path.is_file():
            raise InvalidData(f"S117_FEDERATION_ROUTES: no file {overrides}",
                              field="S117_FEDERATION_ROUTES")
        extra = parse_overrides(path.read_text(encoding="utf-8").splitlines(), path.name)
    return build(regions.values(), icb_regions, la_icbs, extra)
