"""The fault suite: real processes and real services under faults (kill -9, a full disk, a
broker restarted, a camera that hangs or sends garbage, clock skew), each test asserting what
is kept. Select it with `pytest -m faults`."""
