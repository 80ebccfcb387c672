"""Jobs: what runs, in what order, and how each kind talks to the daemons.

- ``job``: the runtime state of one job and its end-of-job report.
- ``manager``: job ids, concurrency limits, the running and terminated lists.
- ``storage``: the storage daemon's side of a job (catalog requests, attributes).
- ``backup``, ``restore``: the conversations of the two job kinds.
"""
