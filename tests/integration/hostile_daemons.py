"""The three daemons built from small configurations, for tests that attack their accept paths.

``build(kind, tmp_path, reactor)`` makes a Director, FileDaemon or StorageDaemon with a
known password for each peer kind it accepts (``PEERS``); give it the real reactor and
start it to listen on loopback, or a ``task.Clock`` and feed connections by hand
(``accept``, then ``log_in`` as one of its ``PEERS``) to drive thousands of them in a few
seconds.
"""

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from bareos.config import parse_config_text
from bareos.config.schemas import DIRECTOR, FILEDAEMON, STORAGEDAEMON
from bareos.director.daemon import Director
from bareos.filedaemon.daemon import FileDaemon
from bareos.protocol import cram
from bareos.protocol.framing import PacketDecoder, encode_packet
from bareos.protocol.hello import Hello, HelloKind, format_hello
from bareos.storagedaemon.daemon import StorageDaemon
from bareos.testing.ports import free_port

CONFIGS = {
    "director": (DIRECTOR, Director, """
Director {{ Name = test-dir; DirAddress = 127.0.0.1; DirPort = {port}; Password = "dirpw";
           Messages = Daemon; Working Directory = "{work}"; TLS Enable = no }}
Console {{ Name = admin; Password = "adminpw"; TLS Enable = no; Command ACL = *all* }}
Client {{ Name = fd1; Address = 127.0.0.1; Port = 1; Password = "fdpw"; TLS Enable = no;
         Connection From Client To Director = yes }}
Messages {{ Name = Daemon; Console = all }}
Catalog {{ Name = MyCatalog; DB Driver = sqlite3; DB Name = bareos }}
"""),
    "filedaemon": (FILEDAEMON, FileDaemon, """
Client {{ Name = test-fd; FdAddress = 127.0.0.1; FdPort = {port}; Working Directory = "{work}";
         SD Connect Timeout = 1 }}
Director {{ Name = test-dir; Password = "dirpw"; TLS Enable = no }}
"""),
    "storagedaemon": (STORAGEDAEMON, StorageDaemon, """
Storage {{ Name = test-sd; SDAddress = 127.0.0.1; SDPort = {port}; Working Directory = "{work}";
          TLS Enable = no }}
Director {{ Name = test-dir; Password = "sdpw"; TLS Enable = no }}
Device {{ Name = FileStorage; Archive Device = "{work}"; Media Type = File; Label Media = yes }}
"""),
}

# Per daemon: the hellos it accepts, each with the password that authenticates it (None:
# a data channel for a job that does not exist, challenged with a random key).
PEERS = {
    "director": [(Hello(HelloKind.CONSOLE, "admin", calling_version="25.1.1"), "adminpw"),
                 (Hello(HelloKind.CONSOLE, "*UserAgent*"), "dirpw"),
                 (Hello(HelloKind.CLIENT, "fd1", fd_protocol_version=54), "fdpw")],
    "filedaemon": [(Hello(HelloKind.DIRECTOR, "test-dir", version="25.1.1"), "dirpw"),
                   (Hello(HelloKind.STORAGE_START_JOB, "nojob.2026-01-01_00.00.00_01"), None)],
    "storagedaemon": [(Hello(HelloKind.DIRECTOR, "test-dir", version="25.1.1"), "sdpw"),
                      (Hello(HelloKind.START_JOB, "nojob.2026-01-01_00.00.00_01"), None)],
}


def build(kind, tmp_path, reactor):
    schema, daemon_class, text = CONFIGS[kind]
    work = tmp_path / kind
    work.mkdir(exist_ok=True)
    port = free_port()
    daemon = daemon_class(parse_config_text(text.format(port=port, work=work), schema), reactor)
    daemon.port = port
    return daemon


def accept(daemon, peer_port=40000):
    """A connection from 127.0.0.1:``peer_port`` accepted the way the daemon's listening
    port accepts one (the cleartext/TLS sniffer first); returns (protocol, transport)."""
    factory = next(service.factory for service in daemon.intake if hasattr(service, "factory"))
    address = IPv4Address("TCP", "127.0.0.1", peer_port)
    protocol = factory.buildProtocol(address)
    transport = StringTransport(peerAddress=address,
                                hostAddress=IPv4Address("TCP", "127.0.0.1", daemon.port))
    protocol.makeConnection(transport)
    return protocol, transport


OUR_CHALLENGE = encode_packet(b"auth cram-md5 <1.2@R_PEER::fuzzer> ssl=0\n")
OK_AUTH = encode_packet(b"1000 OK auth\n")


def cram_answer(sent, key):
    """The packet answering the last CRAM-MD5 challenge among the bytes ``sent`` to us."""
    challenges = [packet for packet in PacketDecoder(2**31 - 1).feed(sent)
                  if isinstance(packet, bytes) and packet.startswith(b"auth cram-md5")]
    if not challenges:
        return encode_packet(b"no challenge yet\x00")
    token, _policy, compatible = cram.parse_challenge(challenges[-1])
    return encode_packet(cram.response_for(key, token, compatible) + b"\x00")


def log_in(protocol, transport, kind, peer_index=0):
    """Say hello as ``PEERS[kind][peer_index]`` and pass the CRAM-MD5 login both ways."""
    hello, password = PEERS[kind][peer_index]
    protocol.dataReceived(encode_packet(format_hello(hello)))
    protocol.dataReceived(cram_answer(transport.value(), cram.password_key(password)))
    protocol.dataReceived(OUR_CHALLENGE + OK_AUTH)
