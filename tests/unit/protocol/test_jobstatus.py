"""The job-status vocabulary and Bareos' rules on it."""

import pytest

from bareos.protocol.jobstatus import (
    FAILED, FINAL, STOPPING, SUCCESSFUL, WAITING, JobStatus, daemons_outcome, prevailing, weight)

S = JobStatus


def test_a_status_is_its_letter_on_the_wire_and_in_the_catalog():
    assert S.TERMINATED == "T" and f"{S.FATAL}" == "f" and str(S.CANCELED) == "A"
    assert ord(S.TERMINATED) == 84 and S.from_code(84) is S.TERMINATED
    assert {"T": "seen"}[S.TERMINATED] == "seen"
    assert S("e") is S.ERROR and S("E") is S.ERROR_TERMINATED


def test_every_bareos_letter_is_there_once_with_a_text():
    assert "".join(sorted(s.value for s in S)) == "ABCDEFILMRSTWacdefijlmpqst"
    assert S.WARNINGS.text == "OK -- with warnings" and S.FATAL.text == "Fatal error"
    assert all(status.text for status in S)


def test_a_terminated_jobs_table_names_an_ending_as_all_three_bareos_daemons_do():
    assert S.ERROR_TERMINATED.ending == S.FATAL.ending == "Error"
    assert (S.TERMINATED.ending, S.WARNINGS.ending, S.CANCELED.ending, S.DIFFERENCES.ending,
            S.CREATED.ending) == ("OK", "OK -- with warnings", "Cancel", "Diffs", "Created")
    assert S.ERROR.ending == S.INCOMPLETE.ending == S.RUNNING.ending == "Other"


@pytest.mark.parametrize("code", [0, -1, 0x80, 1000, ord("x"), ord("0")])
def test_an_unknown_code_is_refused(code):
    with pytest.raises(ValueError):
        S.from_code(code)


def test_the_sets():
    assert SUCCESSFUL == {S.TERMINATED, S.WARNINGS}
    assert FAILED == {S.ERROR_TERMINATED, S.ERROR, S.FATAL}
    assert FINAL == SUCCESSFUL | FAILED | {S.CANCELED, S.DIFFERENCES, S.INCOMPLETE}
    assert STOPPING == {S.CANCELED, S.ERROR_TERMINATED, S.FATAL}
    assert not WAITING & FINAL and S.RUNNING not in WAITING | FINAL
    assert S.CREATED not in WAITING | FINAL


def test_weights_order_incomplete_then_failures_and_cancel_then_errors_then_differences():
    assert weight(S.INCOMPLETE) > weight(S.FATAL) == weight(S.ERROR_TERMINATED) \
        == weight(S.CANCELED) > weight(S.ERROR) > weight(S.DIFFERENCES) > 0
    assert {weight(s) for s in S if s not in FAILED | STOPPING | {S.INCOMPLETE, S.DIFFERENCES}} \
        == {0}


@pytest.mark.parametrize("current, new, result", [
    (None, S.RUNNING, S.RUNNING),
    (S.CREATED, S.RUNNING, S.RUNNING),              # weight 0 over weight 0: the newer
    (S.RUNNING, S.TERMINATED, S.TERMINATED),
    (S.TERMINATED, S.RUNNING, S.RUNNING),
    (S.RUNNING, S.FATAL, S.FATAL),                  # heavier wins
    (S.FATAL, S.TERMINATED, S.FATAL),               # a failure is not overwritten by success
    (S.FATAL, S.CANCELED, S.FATAL),                 # equally heavy: the first stays
    (S.CANCELED, S.FATAL, S.CANCELED),
    (S.ERROR_TERMINATED, S.CANCELED, S.ERROR_TERMINATED),
    (S.ERROR, S.FATAL, S.FATAL),
    (S.FATAL, S.ERROR, S.FATAL),
    (S.DIFFERENCES, S.ERROR, S.ERROR),
    (S.CANCELED, S.INCOMPLETE, S.INCOMPLETE),
    (S.INCOMPLETE, S.CANCELED, S.INCOMPLETE),
])
def test_prevailing(current, new, result):
    assert prevailing(current, new) is result


@pytest.mark.parametrize("fd, sd, errors, outcome", [
    (S.TERMINATED, S.TERMINATED, 0, S.TERMINATED),
    (S.TERMINATED, S.TERMINATED, 2, S.WARNINGS),      # OK, but the daemons reported errors
    (S.WARNINGS, S.TERMINATED, 0, S.WARNINGS),
    (S.ERROR_TERMINATED, S.TERMINATED, 1, S.ERROR_TERMINATED),
    (S.TERMINATED, S.FATAL, 0, S.FATAL),
    (S.CANCELED, S.TERMINATED, 0, S.CANCELED),
    (S.TERMINATED, S.CANCELED, 0, S.CANCELED),
    (S.FATAL, S.CANCELED, 0, S.CANCELED),             # as heavy: the cancel caused the failure
    (S.CANCELED, S.FATAL, 0, S.CANCELED),
    (S.FATAL, S.ERROR_TERMINATED, 0, S.FATAL),        # as heavy, no cancel: the file daemon's
    (S.WARNINGS, S.ERROR_TERMINATED, 0, S.ERROR_TERMINATED),   # the worse of the two
    (None, S.TERMINATED, 0, S.ERROR_TERMINATED),      # the FD vanished before its report
    (S.TERMINATED, None, 0, S.ERROR_TERMINATED),      # the SD vanished before its report
    (None, None, 0, S.ERROR_TERMINATED),
])
def test_daemons_outcome(fd, sd, errors, outcome):
    assert daemons_outcome(fd, sd, errors) is outcome
