"""Build the configured carrier clients and say which ones are disabled and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from bot.carriers.base import Carrier
from bot.carriers.gdeposylka import DetectCache, GdePosylkaClient, NewNumberBudget
from bot.carriers.inpost import InPostClient
from bot.carriers.novaposhta import NovaPoshtaClient
from bot.carriers.postplus import PostPlusClient
from bot.carriers.ukrposhta import UkrposhtaClient
from bot.config import Settings

# Client name → the variable holding its credential (named in admin alerts, never its value).
CREDENTIAL_VARIABLES: Mapping[str, str] = {
    "ukrposhta": "UKRPOSHTA_TOKEN",
    "nova-poshta": "NOVAPOSHTA_API_KEY",
    "postplus": "POSTPLUS_API_KEY",
    "gdeposylka": "GDEPOSYLKA_TOKEN",
}

# Client name → the variables an operator must set to enable it.
REQUIRED_VARIABLES: Mapping[str, str] = {
    "ukrposhta": CREDENTIAL_VARIABLES["ukrposhta"],
    "postplus": f"{CREDENTIAL_VARIABLES['postplus']} and POSTPLUS_BASE_URL",
    "gdeposylka": CREDENTIAL_VARIABLES["gdeposylka"],
}


@dataclass(frozen=True, slots=True)
class CarrierRegistry:
    """The enabled clients by name, and the disabled ones with what would enable them."""

    clients: Mapping[str, Carrier]
    disabled: Mapping[str, str] = field(default_factory=dict)

    @property
    def gdeposylka(self) -> GdePosylkaClient | None:
        """Return the GdePosylka client, which also detects carriers online."""
        client = self.clients.get("gdeposylka")
        return client if isinstance(client, GdePosylkaClient) else None


def client_timeout(settings: Settings) -> aiohttp.ClientTimeout:
    """Return the per-request timeout (CARRIER_TIMEOUT_SECONDS, body included) for clients."""
    total = settings.carrier_timeout
    return aiohttp.ClientTimeout(total=total, connect=min(5.0, total), sock_read=total)


def build_carriers(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    budget: NewNumberBudget | None = None,
    detect_cache: DetectCache | None = None,
) -> CarrierRegistry:
    """Create a client for every carrier whose credentials are configured."""
    clients: dict[str, Carrier] = {}
    disabled: dict[str, str] = {}
    timeout = client_timeout(settings)
    if settings.ukrposhta.credential:
        clients["ukrposhta"] = UkrposhtaClient(
            session, settings.ukrposhta.base_url, settings.ukrposhta.credential, timeout=timeout
        )
    else:
        disabled["ukrposhta"] = REQUIRED_VARIABLES["ukrposhta"]
    # InPost's tracking resource needs no authentication (ShipX docs).
    clients["inpost"] = InPostClient(session, settings.inpost.base_url, timeout)
    # Nova Poshta's tracking answers without a key according to several public clients, while
    # its docs ask for one: enabled always, the key is sent when configured.
    clients["nova-poshta"] = NovaPoshtaClient(
        session, settings.novaposhta.base_url, settings.novaposhta.credential, timeout=timeout
    )
    if settings.postplus and settings.postplus.credential:
        clients["postplus"] = PostPlusClient(
            session, settings.postplus.base_url, settings.postplus.credential, timeout=timeout
        )
    else:
        disabled["postplus"] = REQUIRED_VARIABLES["postplus"]
    if settings.gdeposylka.credential:
        clients["gdeposylka"] = GdePosylkaClient(
            session,
            settings.gdeposylka.base_url,
            settings.gdeposylka.credential,
            budget=budget,
            detect_cache=detect_cache,
            timeout=timeout,
        )
    else:
        disabled["gdeposylka"] = REQUIRED_VARIABLES["gdeposylka"]
    return CarrierRegistry(clients, disabled)
