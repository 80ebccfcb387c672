"""Pure connection planning: who dials which address (the Lan Address rule)."""
