"""Connection planning: who dials which address (the Lan Address rule, ``addresses``),
and how a failed dial is retried (``retry``)."""
