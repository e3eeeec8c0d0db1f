"""Amazon Business regions: API hosts, Login-with-Amazon token endpoints and marketplaces.

Amazon Business serves each region from its own host, and a consented customer has one refresh
token per regional marketplace. Every Login-with-Amazon client found in the wild uses the same
token endpoint for all regions (see reference/amazon-business-api.md §5, §11.9); it can be
overridden per deployment with ``ABRECON_LWA_ENDPOINT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Region(StrEnum):
    """The three regional Amazon Business API endpoints."""

    NA = "NA"
    EU = "EU"
    FE = "FE"


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """Where a region's API lives and which marketplaces it serves."""

    region: Region
    api_host: str
    sandbox_host: str
    lwa_token_url: str
    marketplaces: dict[str, str]  # country code -> marketplace id

    @property
    def default_marketplace_id(self) -> str:
        return next(iter(self.marketplaces.values()))


LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"

REGIONS: dict[Region, RegionInfo] = {
    Region.NA: RegionInfo(
        Region.NA,
        "https://na.business-api.amazon.com",
        "https://sandbox.na.business-api.amazon.com",
        LWA_TOKEN_URL,
        {"US": "ATVPDKIKX0DER", "CA": "A2EUQ1WTGCTBG2", "MX": "A1AM78C64UM0Y8"},
    ),
    Region.EU: RegionInfo(
        Region.EU,
        "https://eu.business-api.amazon.com",
        "https://sandbox.eu.business-api.amazon.com",
        LWA_TOKEN_URL,
        {
            "UK": "A1F83G8C2ARO7P",
            "DE": "A1PA6795UKMFR9",
            "FR": "A13V1IB3VIYZZH",
            "IT": "APJ6JRA9NG5V4",
            "ES": "A1RKKUPIHCS9HS",
            "IN": "A21TJRUUN4KGV",
        },
    ),
    Region.FE: RegionInfo(
        Region.FE,
        "https://jp.business-api.amazon.com",
        "https://sandbox.jp.business-api.amazon.com",
        LWA_TOKEN_URL,
        {"JP": "A1VC38T7YXB528", "AU": "A39IBJ37TRP1C6"},
    ),
}


def region_info(region: Region | str) -> RegionInfo:
    """The hosts and marketplaces of ``region`` (``"NA"``, ``"EU"`` or ``"FE"``)."""
    return REGIONS[Region(region)]


def region_of_marketplace(marketplace_id: str) -> Region | None:
    """The region that serves ``marketplace_id``, or ``None`` for an unknown id."""
    for info in REGIONS.values():
        if marketplace_id in info.marketplaces.values():
            return info.region
    return None
