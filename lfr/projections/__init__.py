"""The site's read model, built from the log: alerts, deployments' audit, zones, patrols and
cameras.

`views = await Views.open(data_dir)`, then `await tg.start(views.run, store)` (or
`await views.catch_up(store)`), then `await views.alerts(zone=...)`, `await views.zones()`,
`await views.deployments()`. `actors.site.open_site` owns the site's one `Views`.
"""

from lfr.projections.base import Projection, ProjectionError, Record
from lfr.projections.projector import VIEWS_FILE, VIEWS_LAYOUT, ViewDb, Views
from lfr.projections.zones import evolve_zone

__all__ = [
    "VIEWS_FILE",
    "VIEWS_LAYOUT",
    "Projection",
    "ProjectionError",
    "Record",
    "ViewDb",
    "Views",
    "evolve_zone",
]
