"""Read models built from the log: the alert view and the audit view.

`views = await Views.open(data_dir)`, then `await views.run(store)` in a task group (or
`await views.catch_up(store)`), then `await views.alerts(zone=...)`, `await views.alert(id)`,
`await views.deployments()`.
"""

from lfr.projections.base import Projection, ProjectionError, Record
from lfr.projections.projector import VIEWS_FILE, ViewDb, Views

__all__ = ["VIEWS_FILE", "Projection", "ProjectionError", "Record", "ViewDb", "Views"]
