"""Binding stays linear in the number of resources: look-ups by name use an index, not a scan.

Counted, not timed: every read of a directive value on a resource goes through
``Section.__getattr__``; a scan over the resources reads each one's ``name``, so a scan per
resource reads names N²/2 times, an index a few times per resource.
"""

import pytest

from bareos.config import ConfigError
from bareos.config.binder import build
from bareos.config.lexer import WORD, Token
from bareos.config.model import Section
from bareos.config.parser import DirectiveNode, ResourceNode
from bareos.config.schemas import DIRECTOR

FILE = "dir.conf"
CLIENTS = 10_000  # and a Job each: 20,000 resources
READS_PER_RESOURCE = 10  # bound on attribute reads per resource while binding


def resource(type_name, line, **directives):
    """A ResourceNode as the parser makes it, each directive a one-word value on its own line."""
    nodes = [DirectiveNode(name, FILE, line + offset, tokens=[Token(WORD, value, value, FILE, line + offset, True)])
             for offset, (name, value) in enumerate(directives.items(), start=1)]
    return ResourceNode(type_name, FILE, line, nodes)


def director_nodes(clients, duplicate_of=None):
    nodes = [resource("Director", 1, Name="dir", Password="pw"),
             resource("Pool", 10, Name="Full"),
             resource("Messages", 20, Name="Standard")]
    for index in range(clients):
        line = 100 + 20 * index
        nodes.append(resource("Client", line, Name=f"fd{index}", Address="h", Password="p"))
        nodes.append(resource("Job", line + 10, Name=f"job{index}", Type="Backup", Client=f"fd{index}",
                              Pool="Full", Messages="Standard"))
    if duplicate_of is not None:
        nodes.append(resource("Client", 900_000, Name=f"fd{duplicate_of}", Address="h", Password="p"))
    return nodes


@pytest.fixture
def attribute_reads(monkeypatch):
    """Counts Section attribute reads; fails at once past the bound, so a scan cannot run for minutes."""
    reads = {"count": 0, "limit": READS_PER_RESOURCE * (2 * CLIENTS + 3)}
    read = Section.__getattr__

    def counted(section, attr):
        reads["count"] += 1
        assert reads["count"] <= reads["limit"], "binding reads resources more than linearly often"
        return read(section, attr)

    monkeypatch.setattr(Section, "__getattr__", counted)
    return reads


def test_twenty_thousand_resources_bind_with_a_linear_number_of_reads(attribute_reads):
    config = build(director_nodes(CLIENTS), DIRECTOR, FILE)
    assert attribute_reads["count"] <= attribute_reads["limit"]
    assert len(config.resources("client")) == CLIENTS
    assert config.get("client", f"fd{CLIENTS - 1}").location == (FILE, 100 + 20 * (CLIENTS - 1))
    assert config.get("job", "job7").client == "fd7"
    assert config.get("client", "nobody") is None


def test_a_duplicate_among_many_is_refused_with_both_places(attribute_reads):
    with pytest.raises(ConfigError) as caught:
        build(director_nodes(CLIENTS, duplicate_of=4321), DIRECTOR, FILE)
    assert str(caught.value) == (f"{FILE}:900000: duplicate Client resource 'fd4321'"
                                 f" (first defined at {FILE}:{100 + 20 * 4321})")


def test_resources_of_a_type_keep_definition_order_and_spellings_of_the_type():
    config = build(director_nodes(3), DIRECTOR, FILE)
    assert [client.name for client in config.resources("client")] == ["fd0", "fd1", "fd2"]
    assert config.resources("Client") == config.resources("client")
    assert config.get("CLIENT", "fd1") is config.resources("client")[1]
    assert [resource.type for resource in config][:4] == ["Director", "Pool", "Messages", "Client"]
