"""The domain actors of lfr: camera, zone, patrol. They use the kernel in `lfr`, never the
reverse; wiring of a whole site happens in `actors.system`."""
