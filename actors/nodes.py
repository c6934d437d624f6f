"""What crosses between nodes of a site, and a node's link (see `lfr.nodes`).

`site_codec` is the allow-list: the messages between cameras, zones and patrols, the events
they carry, and the answers a command on another node returns (statuses, deployments,
patrol states). `open_link` connects a node to the site's `[cluster]` NATS.
"""

from __future__ import annotations

from actors import messages
from actors.patrol_rules import PatrolAlert, PatrolState
from actors.zone import ZoneStatus
from actors.zone_rules import AlertState, Deployment, ModelPack, ZoneState
from lfr.kernel import Crash, Stop
from lfr.nodes import MessageCodec, NodeLink, connect_link
from lfr.site import SiteConfig
from schemas.events import AlertRaised, FaceMatched

__all__ = ["open_link", "site_codec"]


def site_codec() -> MessageCodec:
    """JSON for every message an actor may send to an actor on another node."""
    kinds = [getattr(messages, name) for name in messages.__all__]
    return MessageCodec(
        [
            *kinds,
            Crash,
            Stop,
            FaceMatched,
            AlertRaised,
            ZoneStatus,
            ZoneState,
            Deployment,
            AlertState,
            ModelPack,
            PatrolState,
            PatrolAlert,
        ]
    )


async def open_link(config: SiteConfig, node: str, *, tell_timeout_s: float = 10.0) -> NodeLink:
    """Node `node`'s link to the rest of `config`'s site (`aclose` it).

    :raises ConfigError: `node` is not one of the config's `[[nodes]]`.
    :raises UnavailableError: no NATS server answers at `[cluster] url`.
    """
    config.node(node)
    cluster = config.cluster
    return await connect_link(
        cluster.url,
        site=config.name,
        node=node,
        codec=site_codec(),
        creds=None if cluster.creds is None else str(cluster.creds),
        request_timeout_s=cluster.request_timeout_s,
        tell_timeout_s=tell_timeout_s,
    )
