"""Request and response models of the HTTP API (the creatives route answers with ``core.schema``).

``listings``: placements, health and adapters; ``templates``: the template registry and the preview.
"""

from api.protocol.listings import (
    AdapterInfo,
    AdapterList,
    AdapterRegistration,
    HealthStatus,
    PlacementField,
    PlacementInfo,
    PlacementList,
)

__all__ = [
    "AdapterInfo",
    "AdapterList",
    "AdapterRegistration",
    "HealthStatus",
    "PlacementField",
    "PlacementInfo",
    "PlacementList",
]
