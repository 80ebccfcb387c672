"""The monitor's model on a task.Clock, with fake sessions (no sockets)."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher

from tray_monitor_fakes import DIR, FD, FD_RUNNING, REFRESH, SD, FakeDaemon, make_model
from bareos.traymonitor import check
from bareos.traymonitor.text import FRAME_END, TextView, render


def test_polls_at_the_refresh_interval_over_one_session():
    clock, daemons = Clock(), {FD: FakeDaemon(FD_RUNNING)}
    model = make_model(daemons, clock)
    model.start()
    state = model.states[FD]
    assert state.reachable and [j.jobid for j in state.running_jobs] == [4]
    clock.advance(REFRESH - 0.1)
    assert daemons[FD].queries == 1
    clock.advance(0.1)
    assert (daemons[FD].queries, daemons[FD].logins) == (2, 1)
    model.stop()
    assert daemons[FD].sessions[0].closed


def test_a_daemon_that_goes_down_is_marked_at_the_next_poll_and_retried_with_backoff():
    clock, daemons = Clock(), {FD: FakeDaemon(), SD: FakeDaemon()}
    model = make_model(daemons, clock)
    model.start()
    daemons[SD].up = False
    clock.advance(REFRESH)
    assert model.states[SD].reachable is False
    assert "closed" in model.states[SD].reason
    assert model.states[FD].reachable
    logins = []
    for _ in range(6):                      # 1, 2, 4, 8 s, then the refresh interval (cap)
        before = daemons[SD].logins
        clock.advance(1)
        seconds = 1
        while daemons[SD].logins == before:
            clock.advance(1)
            seconds += 1
        logins.append(seconds)
    assert logins == [1, 2, 4, 8, 10, 10]
    assert model.states[SD].reason == "Connection refused"
    daemons[SD].up = True
    clock.advance(REFRESH)
    assert model.states[SD].reachable
    assert check.verdict(model.snapshot()).code == check.OK


def test_a_hanging_daemon_times_out_and_stalls_nobody():
    clock, daemons = Clock(), {DIR: FakeDaemon(), FD: FakeDaemon(FD_RUNNING)}
    daemons[DIR].hanging = True
    model = make_model(daemons, clock)
    model.start()
    assert model.states[FD].reachable
    assert model.states[DIR].reachable is None
    clock.advance(DIR.timeout)
    assert model.states[DIR].reachable is False
    assert model.states[DIR].reason == "no answer in time"
    clock.advance(REFRESH - DIR.timeout)
    assert daemons[FD].queries == 2
    model.stop()


def test_poll_once_polls_all_at_the_same_time_and_closes_the_sessions():
    clock, daemons = Clock(), {DIR: FakeDaemon(), FD: FakeDaemon(FD_RUNNING), SD: FakeDaemon()}
    daemons[SD].up = False
    model = make_model(daemons, clock)
    result = defer.ensureDeferred(model.poll_once())
    states = result.result
    verdict = check.verdict(states)
    assert verdict.code == check.CRITICAL
    assert verdict.line.startswith("BAREOS CRITICAL - storage sd unreachable (Connection refused);")
    assert "2/3 daemons reachable, 1 job running: backup.2026-12-03_08.50.00_04" in verdict.line
    assert verdict.line.endswith("| reachable=2;;3;0;3 running=1;;;0 failed_24h=0;1;;0")
    assert all(s.closed for d in daemons.values() for s in d.sessions)
    assert not clock.getDelayedCalls()


def test_the_text_view_writes_a_frame_when_the_picture_changes():
    class Out:
        def __init__(self):
            self.text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    clock, daemons = Clock(), {FD: FakeDaemon(FD_RUNNING), SD: FakeDaemon()}
    model = make_model(daemons, clock)
    out = Out()
    TextView(model, "mon", out, is_terminal=False)
    model.start()
    clock.advance(REFRESH)                  # same answers: no new frame
    frames = out.text.split(FRAME_END)[:-1]
    assert "BAREOS OK" in frames[-1]
    assert "client fd   running: backup.2026-12-03_08.50.00_04 (JobId 4)" in frames[-1]
    count = len(frames)
    daemons[SD].up = False
    clock.advance(REFRESH)
    frames = out.text.split(FRAME_END)[:-1]
    assert len(frames) == count + 1
    assert "storage sd  UNREACHABLE: connection closed by peer" in frames[-1]
    assert render("mon", model.snapshot()) in frames[-1]
    model.stop()


def test_a_watch_that_fails_on_a_bug_is_logged_by_name_and_the_others_poll_on():
    clock, daemons = Clock(), {FD: FakeDaemon(FD_RUNNING), SD: FakeDaemon()}
    model = make_model(daemons, clock)
    events = []
    globalLogPublisher.addObserver(events.append)

    raised = []

    def broken_view(model):                 # fails once, on the storage daemon's first result
        if model.states[SD].polled_at is not None and not raised:
            raised.append(True)
            raise RuntimeError("a view's bug")
    model.subscribe(broken_view)
    try:
        model.start()
    finally:
        globalLogPublisher.removeObserver(events.append)
    failures = [e for e in events if e.get("log_failure") is not None]
    assert [formatEvent(e) for e in failures] == [
        f"Watching {SD.kind} {SD.name} failed; it is no longer polled"]
    failures[0]["log_failure"].trap(RuntimeError)
    clock.advance(REFRESH)
    assert (daemons[FD].queries, daemons[SD].queries) == (2, 1)
    model.stop()
