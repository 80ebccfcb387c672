"""bareos-tray-monitor: watch directors, file daemons and storage daemons (channels 9, 10, 11).

``config``      the tray monitor configuration -> the daemons to watch (``Target``)
``statustext``  what a daemon's ``status`` text says: running jobs, recently failed jobs (pure)
``model``       the state of every daemon, polled at the refresh interval on an injected clock
``sessions``    the network side: log in as the monitor, ask for ``status``
``check``       the verdict of a monitoring plugin (OK / WARNING / CRITICAL) from the model
``overview``    what every view shows: a daemon's line, the headline, the tray icon's state
``text``        the live terminal view
``desktop``     the tray icon and status window (PyQt5, optional; qt5reactor)
``main``        the ``bareos-tray-monitor`` command

Views (the desktop view, the terminal view, ``--check``) only read the model and
subscribe to its changes; they never talk to the daemons themselves.
"""
