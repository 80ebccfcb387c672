"""An in-process director whose configuration is a ``bareos-dir.d`` tree on disk, for tests
of the commands that read or write that tree (``configure add``, ``reload``).

``start_director(root, files, reactor)`` writes ``files`` (``{"<type>/<name>.conf": text}``,
where ``{port}``, ``{dead_port}`` and ``{workdir}`` stand for the director's port, a port
nobody listens on and ``root``) under ``root/bareos-dir.d``, starts the director on the
running reactor and returns it with ``port`` and ``tree`` set; stop it with
``stopService()``.  ``module_director(files)`` is a module-scoped pytest fixture of one.
"""

import pytest
import pytest_twisted

from bareos.config import load_config
from bareos.config.schemas import DIRECTOR
from bareos.config.writer import write_tree
from bareos.director.daemon import Director
from bareos.testing.ports import free_port


def start_director(root, files, reactor):
    values = {"{port}": str(free_port()), "{dead_port}": str(free_port()),
              "{workdir}": str(root)}
    texts = {}
    for path, text in files.items():
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        texts[path] = text + "\n"
    tree = write_tree(root / "bareos-dir.d", texts)
    director = Director(load_config(root, DIRECTOR), reactor, config_path=str(root))
    director.port = int(values["{port}"])
    director.tree = tree
    director.startService()
    return director


def module_director(files):
    """A pytest fixture (module scope): a director on ``files``, its catalog open."""
    @pytest.fixture(scope="module")
    def director(tmp_path_factory):
        from twisted.internet import reactor
        service = start_director(tmp_path_factory.mktemp("director"), files, reactor)
        pytest_twisted.blockon(service.catalog_ready())
        yield service
        pytest_twisted.blockon(service.stopService())
    return director
