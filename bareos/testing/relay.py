"""A fault-injecting TCP relay on loopback, standing between two daemons in tests.

It forwards every accepted connection to a target address and can, on command:

- ``freeze()``: stop forwarding in both directions, keeping the sockets open
  (a peer that vanished without a FIN: a half-open connection);
- ``reset()``: abort every relayed connection with a TCP RST;
- ``refuse(True)``: reset new connections at once (a daemon that is down);
- ``drop_silently()``: forget every current flow at once, as a NAT gateway that
  lost its state (a reboot) does: traffic on them is swallowed from now on;
- ``idle_timeout``: silently forget flows idle longer than that many seconds,
  as a NAT gateway forgets its mappings; a forgotten flow then swallows
  everything, like a packet to a mapping that no longer exists.

``greetings`` keeps the first bytes every relayed connection sent (a daemon's
hello, in cleartext), so a test can tell which connections took this path.
``signals(direction)`` counts the Bareos signals (heartbeats, their answers, ...)
it has forwarded ``TO_SERVER`` or ``TO_CLIENT`` on cleartext connections, so a test
can wait until, say, the director has answered a file daemon's heartbeat.

It runs in a thread of the test process; only loopback addresses are used
(``listen_host`` may be any 127.x.y.z, to stand in for a NAT's outside address).
"""

import collections
import ipaddress
import selectors
import socket
import struct
import threading
import time

from bareos.protocol.framing import FramingError, PacketDecoder, is_signal

LOOPBACK = "127.0.0.1"
TO_SERVER = "to server"      # from the connection's initiator to the relay's target
TO_CLIENT = "to client"


class _Flow:
    def __init__(self, client, server):
        self.client = client
        self.server = server
        self.last_activity = time.monotonic()
        self.forgotten = False
        self.greeted = False
        # Bareos packet decoders per direction; None once a direction turned out not to be
        # a cleartext packet stream (TLS)
        self.decoders = {TO_SERVER: PacketDecoder(), TO_CLIENT: PacketDecoder()}

    def peer_of(self, sock):
        return self.server if sock is self.client else self.client

    def close(self, reset=False):
        for sock in (self.client, self.server):
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()


class FaultyRelay:
    def __init__(self, target_port, target_host=LOOPBACK, listen_port=0, idle_timeout=None,
                 listen_host=LOOPBACK):
        if not ipaddress.ip_address(listen_host).is_loopback:
            raise ValueError(f"the relay listens on loopback only, not {listen_host!r}")
        self.target = (target_host, target_port)
        self.idle_timeout = idle_timeout
        self.greetings = []          # the first bytes each relayed connection sent (its hello)
        self._listener = socket.create_server((listen_host, listen_port))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._flows = []
        self._frozen = False
        self._refusing = False
        self._lock = threading.Lock()
        self._stopping = False
        self.accepted = 0
        self.refused = 0             # connections reset at once while refusing
        self._signals = {TO_SERVER: collections.Counter(), TO_CLIENT: collections.Counter()}
        self._thread = threading.Thread(target=self._run, name="faulty-relay", daemon=True)
        self._thread.start()

    # -- commands -----------------------------------------------------------

    def freeze(self):
        with self._lock:
            self._frozen = True

    def thaw(self):
        with self._lock:
            self._frozen = False

    def reset(self):
        with self._lock:
            for flow in self._flows:
                self._unregister(flow)
                flow.close(reset=True)
            self._flows.clear()

    def drop_silently(self):
        with self._lock:
            for flow in self._flows:
                flow.forgotten = True

    def refuse(self, refusing=True):
        with self._lock:
            self._refusing = refusing

    def active_flows(self):
        with self._lock:
            return sum(1 for flow in self._flows if not flow.forgotten)

    def signals(self, direction):
        """How many of each signal (a Counter keyed by ``Signal``) crossed in ``direction``
        (``TO_SERVER`` or ``TO_CLIENT``) on cleartext connections, all flows together."""
        with self._lock:
            return collections.Counter(self._signals[direction])

    def stop(self):
        self._stopping = True
        self._thread.join(5)
        with self._lock:
            for flow in self._flows:
                flow.close()
            self._flows.clear()
        self._listener.close()
        self._selector.close()

    # -- the loop -------------------------------------------------------------

    def _run(self):
        while not self._stopping:
            for key, _mask in self._selector.select(timeout=0.1):
                with self._lock:
                    if key.fileobj is self._listener:
                        self._accept()
                    elif not self._frozen:
                        self._forward(key.fileobj, key.data)
            self._expire_idle()
            if self._frozen:
                time.sleep(0.05)

    def _accept(self):
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        if self._refusing:
            self.refused += 1
            _Flow(client, socket.socket()).close(reset=True)
            return
        try:
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            _Flow(client, socket.socket()).close(reset=True)
            return
        self.accepted += 1
        for sock in (client, server):
            sock.setblocking(False)
        flow = _Flow(client, server)
        self._flows.append(flow)
        self._selector.register(client, selectors.EVENT_READ, flow)
        self._selector.register(server, selectors.EVENT_READ, flow)

    def _forward(self, sock, flow):
        if flow not in self._flows:          # closed earlier in this round of select()
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if flow.forgotten:                   # swallowed, like traffic to a forgotten NAT mapping
            if not data:                     # nor is the end passed on; stop watching this side
                try:
                    self._selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            return
        if not data:
            self._unregister(flow)
            flow.close()
            self._flows.remove(flow)
            return
        flow.last_activity = time.monotonic()
        if sock is flow.client and not flow.greeted:
            flow.greeted = True
            self.greetings.append(data[:512])
        self._count_signals(flow, TO_SERVER if sock is flow.client else TO_CLIENT, data)
        try:
            flow.peer_of(sock).setblocking(True)
            flow.peer_of(sock).sendall(data)
            flow.peer_of(sock).setblocking(False)
        except OSError:
            self._unregister(flow)
            flow.close(reset=True)
            self._flows.remove(flow)

    def _count_signals(self, flow, direction, data):
        """Count before forwarding: whoever receives a packet finds it counted already."""
        decoder = flow.decoders[direction]
        if decoder is None:
            return
        try:
            packets = decoder.feed(data)
        except FramingError:                 # TLS: nothing to count in this direction
            flow.decoders[direction] = None
            return
        self._signals[direction].update(packet for packet in packets if is_signal(packet))

    def _expire_idle(self):
        if not self.idle_timeout:
            return
        now = time.monotonic()
        with self._lock:
            for flow in self._flows:
                if not flow.forgotten and now - flow.last_activity > self.idle_timeout:
                    flow.forgotten = True

    def _unregister(self, flow):
        for sock in (flow.client, flow.server):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
