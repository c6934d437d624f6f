"""Face pipeline: detection, quality gate, alignment, embedding, model packs."""
