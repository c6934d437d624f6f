"""The domain actors of lfr: camera, zone, patrol. They use the kernel in `lfr`, never the
reverse; a whole site is wired in one place, `actors.site.open_site`, which the edges
(`lfr.cli`, `lfr.demo`, `lfr.bench`) call."""

__all__: list[str] = []
