"""The schedule language of the director: parsing Run lines and finding run times."""

import os
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from bareos.director.schedule import (RunSpec, ScheduleError, next_run, parse_run, upcoming,
                                      week_of_year)

ALL_HOURS = set(range(24))
ALL_DAYS = set(range(1, 32))
ALL_MONTHS = set(range(1, 13))
ALL_WEEKDAYS = set(range(7))
ALL_WEEKS = {1, 2, 3, 4, 5}
ALL_WOY = set(range(54))
SUN, MON, TUE, WED, THU, FRI, SAT = range(7)


def _set_tz(value):
    if value is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = value
    time.tzset()


@pytest.fixture(autouse=True)
def utc():
    """Every test runs in a known local zone: UTC unless it asks for Berlin."""
    saved = os.environ.get("TZ")
    _set_tz("UTC")
    yield
    _set_tz(saved)


@pytest.fixture
def berlin(utc):
    """Europe/Berlin: DST starts 2024-03-31 02:00 -> 03:00, ends 2024-10-27 03:00 -> 02:00."""
    _set_tz("Europe/Berlin")
    yield


def masks(spec):
    return dict(minute=spec.minute, hours=set(spec.hours), days=set(spec.days_of_month),
                months=set(spec.months), weekdays=set(spec.weekdays),
                weeks=set(spec.weeks_of_month), last=spec.last_week, woy=set(spec.weeks_of_year))


def expect(minute=0, hours=ALL_HOURS, days=ALL_DAYS, months=ALL_MONTHS, weekdays=ALL_WEEKDAYS,
           weeks=ALL_WEEKS, last=False, woy=ALL_WOY):
    return dict(minute=minute, hours=set(hours), days=set(days), months=set(months),
                weekdays=set(weekdays), weeks=set(weeks), last=last, woy=set(woy))


# --- parsing: the date/time part -------------------------------------------

@pytest.mark.parametrize("text, expected", [
    # the examples of the Bareos manual (Schedule Resource)
    ("Level=Full sun at 2:05", expect(5, {2}, weekdays={SUN})),
    ("Level=Incremental mon-sat at 2:05", expect(5, {2}, weekdays={MON, TUE, WED, THU, FRI, SAT})),
    ("Level=Full Pool=Monthly 1st sun at 2:05", expect(5, {2}, weekdays={SUN}, weeks={1})),
    ("Level=Differential 2nd-5th sun at 23:05",
     expect(5, {23}, weekdays={SUN}, weeks={2, 3, 4, 5})),
    ("Level=Full on 1 at 2:05", expect(5, {2}, days={1})),
    ("Level=Incremental on 2-31 at 2:05", expect(5, {2}, days=set(range(2, 32)))),
    ("Level=Full last fri at 21:00", expect(0, {21}, weekdays={FRI}, weeks=set(), last=True)),
    ("Level=Full hourly at 0:05", expect(5)),
    ("1/2 at 23:10", expect(10, {23}, days=set(range(1, 32, 2)))),
    ("2/2 at 23:10", expect(10, {23}, days=set(range(2, 32, 2)))),
    ("w03/w05 at 23:10", expect(10, {23}, woy={3, 8, 13, 18, 23, 28, 33, 38, 43, 48, 53})),
    ("w01/w02 at 23:10", expect(10, {23}, woy=set(range(1, 54, 2)))),
    ("w02/w02 at 23:10", expect(10, {23}, woy=set(range(2, 54, 2)))),
    # day of month with and without "on"
    ("Level=Full 1 at 2:00", expect(0, {2}, days={1})),
    ("on 31", expect(days={31})),
    ("1 15 at 3:00", expect(0, {3}, days={1, 15})),
    # no date words: every day; no "at": every hour at minute 0
    ("Level=Full", expect()),
    ("at 23:10", expect(10, {23})),
    ("daily at 23:10", expect(10, {23})),
    ("hourly", expect()),
    ("hourly at 0:15", expect(15)),
    ("at 3:15 hourly", expect(15)),
    ("hourly at 5:15", expect(15)),                      # the hour of an hourly time is moot
    # weekly / monthly narrow nothing by themselves
    ("Level=Full weekly at 3:00", expect(0, {3})),
    ("weekly sun at 3:00", expect(0, {3}, weekdays={SUN})),
    ("monthly", expect()),
    ("monthly 1st mon at 1:00", expect(0, {1}, weekdays={MON}, weeks={1})),
    # Bareos quirks kept: after daily/weekly a day number does not narrow the days
    ("daily 15 at 1:00", expect(0, {1})),
    ("15 daily at 1:00", expect(0, {1}, days={15})),
    ("mon daily", expect()),
    ("daily mon", expect(weekdays={MON})),
    # months, full names, case-insensitivity
    ("jan-mar", expect(months={1, 2, 3})),
    ("January June DECEMBER", expect(months={1, 6, 12})),
    ("Monday Wednesday friday AT 8:00", expect(0, {8}, weekdays={MON, WED, FRI})),
    ("First Sunday", expect(weekdays={SUN}, weeks={1})),
    ("second-fourth tue", expect(weekdays={TUE}, weeks={2, 3, 4})),
    ("Fifth SAT", expect(weekdays={SAT}, weeks={5})),
    # commas in lists, with or without spaces
    ("mon,wed,fri at 6:00", expect(0, {6}, weekdays={MON, WED, FRI})),
    ("mon, wed , fri at 6:00", expect(0, {6}, weekdays={MON, WED, FRI})),
    ("1,15 at 6:00, 18:00", expect(0, {6, 18}, days={1, 15})),
    ("jan,apr,jul,oct 1 at 0:30", expect(30, {0}, days={1}, months={1, 4, 7, 10})),
    # wrapping ranges
    ("fri-mon", expect(weekdays={FRI, SAT, SUN, MON})),
    ("sat-sun", expect(weekdays={SAT, SUN})),
    ("nov-feb", expect(months={11, 12, 1, 2})),
    ("5th-1st", expect(weeks={5, 1})),
    ("28-3", expect(days={28, 29, 30, 31, 1, 2, 3})),
    ("w52-w02", expect(woy={52, 53, 0, 1, 2})),
    # weeks of the year
    ("w00", expect(woy={0})),
    ("w01-w53", expect(woy=set(range(1, 54)))),
    ("W10 w20", expect(woy={10, 20})),
    # last week of the month, also combined with 1st..5th
    ("last", expect(weeks=set(), last=True)),
    ("1st last sun", expect(weekdays={SUN}, weeks={1}, last=True)),
    # several times share one minute
    ("at 2:05 14:05", expect(5, {2, 14})),
    ("at 2:05, 3:05", expect(5, {2, 3})),
    # 12-hour clock: 12am is midnight, 12pm noon
    ("at 12:00am", expect(0, {0})),
    ("at 12:30AM", expect(30, {0})),
    ("at 12:00pm", expect(0, {12})),
    ("at 1:15pm", expect(15, {13})),
    ("at 11:59pm", expect(59, {23})),
    ("at 7:45am", expect(45, {7})),
    ("at 00:00", expect(0, {0})),
    ("at 23:59", expect(59, {23})),
])
def test_date_and_time_words(text, expected):
    assert masks(parse_run(text)) == expected


# --- parsing: level and overrides --------------------------------------------

@pytest.mark.parametrize("text, level, overrides", [
    ("Level=Full sun at 2:05", "Full", {}),
    ("level=incremental", "Incremental", {}),
    ("LEVEL = Differential mon", "Differential", {}),
    ("Level=VirtualFull", "VirtualFull", {}),
    ("Full sun at 2:05", "Full", {}),                       # deprecated bare level
    ("incremental Pool=Daily", "Incremental", {"Pool": "Daily"}),
    ("sun at 2:05", None, {}),
    ("Level=Full Pool=Monthly Storage=File Messages=Standard Priority=11 SpoolData=yes",
     "Full", {"Pool": "Monthly", "Storage": "File", "Messages": "Standard", "Priority": 11,
              "SpoolData": True}),
    ("FullPool=F IncrementalPool=I DifferentialPool=D NextPool=N Accurate=no",
     None, {"FullPool": "F", "IncrementalPool": "I", "DifferentialPool": "D", "NextPool": "N",
            "Accurate": False}),
    ("pool=a POOL=b", None, {"Pool": "b"}),                 # the last one wins, as in Bareos
    ('Pool="Monthly Pool" Storage = "My \\"Disk\\""', None,
     {"Pool": "Monthly Pool", "Storage": 'My "Disk"'}),
    ("SpoolData=TRUE Accurate=0", None, {"SpoolData": True, "Accurate": False}),
    ('MaxRunSchedTime="2 hours"', None, {"MaxRunSchedTime": "2 hours"}),
])
def test_level_and_overrides(text, level, overrides):
    spec = parse_run(text)
    assert (spec.level, spec.overrides) == (level, overrides)


def test_overrides_do_not_change_the_time_masks():
    spec = parse_run("Level=Full Pool=Monthly Priority=5 1st sun at 2:05")
    assert masks(spec) == expect(5, {2}, weekdays={SUN}, weeks={1})
    assert spec.text == "Level=Full Pool=Monthly Priority=5 1st sun at 2:05"


def test_runspec_defaults_are_every_hour():
    assert masks(RunSpec(text="")) == expect()


# --- parsing: errors --------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("", "empty Run directive"),
    ("   ", "empty Run directive"),
    ("Level=Full sunnday at 2:05", "unknown word 'sunnday'"),
    ("Level=Full sun at 2:05 foo", "unknown word 'foo'"),
    ("sun at 2pm", "unknown word '2pm'"),
    ("sun at 2pm", "write times as H:MM after 'at'"),
    ("w1", "unknown word 'w1'"),
    ("Level=Fulll sun", "unknown job level 'Fulll'"),
    ("Level=", "missing value after Level="),
    ("Pool sun", "expected '=' after Pool"),
    ("Poool=x sun", "unknown Run override Poool="),
    ("sun at 2:05 Pool=Monthly", "Level= and other overrides must come first"),
    ('sun "quoted"', "Level= and other overrides must come first"),
    ("SpoolData=maybe", "SpoolData= expects yes or no, got 'maybe'"),
    ("Accurate=1x", "Accurate= expects yes or no"),
    ("Priority=high", "Priority= expects a positive integer, got 'high'"),
    ("Priority=0", "Priority= expects a positive integer"),
    ('Pool=""', "Pool= expects a resource name"),
    ('Pool="open', "unterminated quoted string"),
    ("sun 2:05", "time '2:05' must be preceded by the keyword 'at'"),
    ("at 24:00", "bad time '24:00': hour must be 0-23"),
    ("at 2:60", "bad time '2:60'"),
    ("at 2:5", "bad time '2:5': expected H:MM"),
    ("at 2:05xm", "bad time '2:05xm'"),
    ("at 13:00pm", "the hour of an am/pm time must be 1-12"),
    ("at 0:30am", "the hour of an am/pm time must be 1-12"),
    ("at 2:05 14:30", "another minute than an earlier time"),
    ("on 0", "day of month 0 out of range 1-31"),
    ("on 32", "day of month 32 out of range 1-31"),
    ("1-32", "day of month 32 in '1-32' out of range 1-31"),
    ("w54", "week of year 'w54' out of range w00-w53"),
    ("w50-w60", "week of year 'w60' in 'w50-w60' out of range"),
    ("mon-mon", "bad range 'mon-mon': start and end are the same"),
    ("5-5", "bad range '5-5': start and end are the same"),
    ("mon-jan", "bad range 'mon-jan': both ends must be"),
    ("mon-", "bad range 'mon-'"),
    ("last-fri", "bad range 'last-fri'"),
    ("3-fri", "bad range '3-fri'"),
    ("1/0", "bad day modulo '1/0'"),
    ("5/2", "first day must not be later than the interval + 1"),
    ("w03/w00", "the interval must be w01-w53"),
    ("w05/w03", "the first week must not be later than the interval"),
    ("mon/2", "bad modulo 'mon/2'"),
])
def test_errors(text, message):
    with pytest.raises(ScheduleError) as error:
        parse_run(text)
    assert message in str(error.value)


def test_schedule_error_is_a_value_error():
    assert issubclass(ScheduleError, ValueError)


# --- week of year -----------------------------------------------------------

@pytest.mark.parametrize("day, week", [
    (date(2021, 1, 1), 0),     # Friday; ISO puts it in 2020-W53
    (date(2021, 1, 3), 0),
    (date(2021, 1, 4), 1),     # Monday of ISO week 1
    (date(2026, 1, 1), 1),     # Thursday: ISO week 1 starts 2025-12-29
    (date(2024, 1, 1), 1),
    (date(2024, 12, 29), 52),
    (date(2024, 12, 30), 53),  # ISO says 2025-W01; Bareos counts within the year
    (date(2020, 12, 31), 53),  # ISO 2020-W53
])
def test_week_of_year(day, week):
    assert week_of_year(day) == week


def test_week_of_year_is_iso_within_the_calendar_year():
    day = date(2019, 1, 1)
    while day < date(2031, 1, 1):
        iso_year, iso_week, _ = day.isocalendar()
        expected = iso_week if iso_year == day.year else (0 if iso_year < day.year else 53)
        assert week_of_year(day) == expected, day
        day += timedelta(days=1)


# --- matches ----------------------------------------------------------------

@pytest.mark.parametrize("text, when, result", [
    ("sun at 2:05", datetime(2024, 3, 3, 2, 5), True),
    ("sun at 2:05", datetime(2024, 3, 3, 2, 5, 59, 999), True),   # minute resolution
    ("sun at 2:05", datetime(2024, 3, 3, 2, 6), False),
    ("sun at 2:05", datetime(2024, 3, 4, 2, 5), False),
    ("Level=Full", datetime(2024, 3, 4, 17, 0), True),
    ("Level=Full", datetime(2024, 3, 4, 17, 1), False),
    ("hourly at 0:15", datetime(2024, 3, 4, 17, 15), True),
    ("1st sun at 2:05", datetime(2024, 3, 3, 2, 5), True),
    ("1st sun at 2:05", datetime(2024, 3, 10, 2, 5), False),
    ("2nd-5th sun at 2:05", datetime(2024, 3, 31, 2, 5), True),    # 5th Sunday
    ("last fri at 21:00", datetime(2024, 3, 29, 21, 0), True),
    ("last fri at 21:00", datetime(2024, 3, 22, 21, 0), False),
    ("last fri at 21:00", datetime(2024, 2, 23, 21, 0), True),     # leap February: 23..29
    ("last thu at 21:00", datetime(2023, 2, 23, 21, 0), True),     # 2023: 22..28
    ("last wed at 21:00", datetime(2023, 2, 22, 21, 0), True),
    ("last tue at 21:00", datetime(2023, 2, 21, 21, 0), False),
    ("on 29 feb at 1:00", datetime(2024, 2, 29, 1, 0), True),
    ("w00 at 1:00", datetime(2021, 1, 2, 1, 0), True),
    ("w53 at 1:00", datetime(2024, 12, 31, 1, 0), True),
    ("jan-mar 1 at 0:00", datetime(2024, 2, 1), True),
    ("jan-mar 1 at 0:00", datetime(2024, 4, 1), False),
    ("fri-mon at 9:00", datetime(2024, 3, 3, 9, 0), True),        # Sunday
    ("fri-mon at 9:00", datetime(2024, 3, 5, 9, 0), False),       # Tuesday
])
def test_matches(text, when, result):
    assert parse_run(text).matches(when) is result


def test_matches_converts_aware_datetimes_to_local_time(berlin):
    spec = parse_run("sun at 2:05")
    assert spec.matches(datetime(2024, 3, 3, 1, 5, tzinfo=timezone.utc))   # 02:05 CET
    assert not spec.matches(datetime(2024, 3, 3, 2, 5, tzinfo=timezone.utc))


# --- next_run ---------------------------------------------------------------

@pytest.mark.parametrize("text, after, expected", [
    ("sun at 2:05", datetime(2024, 3, 1, 12, 0), datetime(2024, 3, 3, 2, 5)),
    ("sun at 2:05", datetime(2024, 3, 3, 2, 4, 59), datetime(2024, 3, 3, 2, 5)),
    ("sun at 2:05", datetime(2024, 3, 3, 2, 5), datetime(2024, 3, 10, 2, 5)),  # strictly after
    ("sun at 2:05", datetime(2024, 3, 3, 2, 5, 30), datetime(2024, 3, 10, 2, 5)),
    ("Level=Full", datetime(2024, 3, 1, 12, 0), datetime(2024, 3, 1, 13, 0)),
    ("hourly at 0:15", datetime(2024, 3, 1, 23, 20), datetime(2024, 3, 2, 0, 15)),
    ("at 2:05 14:05", datetime(2024, 3, 1, 3, 0), datetime(2024, 3, 1, 14, 5)),
    # across month and year ends
    ("on 1 at 2:00", datetime(2024, 1, 31, 23, 0), datetime(2024, 2, 1, 2, 0)),
    ("on 1 at 2:00", datetime(2024, 12, 1, 2, 0), datetime(2025, 1, 1, 2, 0)),
    ("on 31 at 1:00", datetime(2024, 4, 1), datetime(2024, 5, 31, 1, 0)),     # April has 30
    ("on 30 at 1:00", datetime(2024, 1, 31), datetime(2024, 3, 30, 1, 0)),    # skips February
    ("1st sun at 2:05", datetime(2024, 3, 3, 3, 0), datetime(2024, 4, 7, 2, 5)),
    ("5th sun at 2:05", datetime(2024, 4, 1), datetime(2024, 6, 30, 2, 5)),
    ("last fri at 21:00", datetime(2024, 3, 29, 21, 0), datetime(2024, 4, 26, 21, 0)),
    ("last sun at 21:00", datetime(2024, 12, 1), datetime(2024, 12, 29, 21, 0)),
    ("last at 0:00", datetime(2024, 2, 1), datetime(2024, 2, 23, 0, 0)),       # leap year
    ("last at 0:00", datetime(2023, 2, 1), datetime(2023, 2, 22, 0, 0)),
    ("last at 0:00", datetime(2023, 4, 30, 0, 0), datetime(2023, 5, 25, 0, 0)),
    # leap years
    ("on 29 feb at 1:00", datetime(2023, 3, 1), datetime(2024, 2, 29, 1, 0)),
    ("feb 29 at 1:00", datetime(2027, 3, 1), datetime(2028, 2, 29, 1, 0)),
    ("on 28 feb at 1:00", datetime(2024, 2, 28, 1, 0), datetime(2025, 2, 28, 1, 0)),
    # weeks of the year
    ("w00 at 1:00", datetime(2021, 1, 3, 1, 0), datetime(2022, 1, 1, 1, 0)),   # 2022-01-01 Sat
    ("w53 at 1:00", datetime(2024, 1, 1), datetime(2024, 12, 30, 1, 0)),
    # the Monday of ISO week 1 of 2025 and 2026 falls in December, where it is w53
    ("w01 mon at 1:00", datetime(2025, 6, 1), datetime(2027, 1, 4, 1, 0)),
    ("jan-mar on 1 at 0:00", datetime(2024, 3, 1, 0, 0), datetime(2025, 1, 1, 0, 0)),
    ("nov-feb on 1 at 0:00", datetime(2024, 2, 1, 0, 0), datetime(2024, 11, 1, 0, 0)),
    ("1/2 at 23:10", datetime(2024, 1, 31, 23, 10), datetime(2024, 2, 1, 23, 10)),   # 31, then 1
])
def test_next_run(text, after, expected):
    assert next_run(parse_run(text), after) == expected


@pytest.mark.parametrize("text", ["feb 30", "feb 31", "apr 31", "nov 31 at 1:00",
                                  "on 29 feb at 1:00"])
def test_next_run_is_none_without_a_match_within_two_years(text):
    # 2024-03-01: the next 29 February (2028) is more than two years away
    assert next_run(parse_run(text), datetime(2024, 3, 1)) is None


def test_next_run_finds_runs_almost_two_years_away():
    spec = parse_run("on 29 feb at 1:00")
    assert next_run(spec, datetime(2026, 3, 1)) == datetime(2028, 2, 29, 1, 0)


def test_next_run_skips_days_instead_of_minutes():
    calls = []

    class Counting(RunSpec):
        def matches_day(self, day):
            calls.append(day)
            return super().matches_day(day)

    spec = Counting(**{**parse_run("feb 31").__dict__})
    assert next_run(spec, datetime(2024, 3, 1)) is None
    assert len(calls) <= 2 * 366 + 2


def test_next_run_with_an_aware_datetime_answers_in_its_zone(berlin):
    spec = parse_run("sun at 2:05")
    after = datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc)
    result = next_run(spec, after)
    assert result.tzinfo is timezone.utc
    assert result == datetime(2024, 3, 3, 1, 5, tzinfo=timezone.utc)


# --- daylight saving time (Europe/Berlin) -------------------------------------

def test_a_time_skipped_by_dst_start_does_not_run_that_day(berlin):
    spec = parse_run("at 2:30")
    assert next_run(spec, datetime(2024, 3, 30, 3, 0)) == datetime(2024, 4, 1, 2, 30)


def test_hourly_on_dst_start_has_no_run_in_the_missing_hour(berlin):
    spec = parse_run("hourly at 0:15")
    result = next_run(spec, datetime(2024, 3, 31, 1, 20))
    assert result == datetime(2024, 3, 31, 3, 15)
    assert result.timestamp() - datetime(2024, 3, 31, 1, 15).timestamp() == 3600
    runs = upcoming([spec], datetime(2024, 3, 31, 0, 0), datetime(2024, 3, 31, 23, 59))
    assert [when.hour for when, _ in runs] == [0, 1] + list(range(3, 24))


def test_a_time_repeated_by_dst_end_runs_at_both_instants(berlin):
    spec = parse_run("at 2:30")
    first = next_run(spec, datetime(2024, 10, 27, 1, 0))
    assert (first, first.fold) == (datetime(2024, 10, 27, 2, 30), 0)
    second = next_run(spec, first)
    assert (second, second.fold) == (datetime(2024, 10, 27, 2, 30), 1)
    assert second.timestamp() - first.timestamp() == 3600
    assert next_run(spec, second) == datetime(2024, 10, 28, 2, 30)


def test_dst_end_with_aware_datetimes(berlin):
    spec = parse_run("at 2:30")
    after = datetime(2024, 10, 27, 0, 0, tzinfo=timezone.utc)      # 02:00 CEST
    first = next_run(spec, after)
    assert first == datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc)
    assert next_run(spec, first) == datetime(2024, 10, 27, 1, 30, tzinfo=timezone.utc)


def test_times_outside_the_dst_change_are_unaffected(berlin):
    spec = parse_run("sun at 23:05")
    assert next_run(spec, datetime(2024, 3, 30)) == datetime(2024, 3, 31, 23, 5)
    assert next_run(spec, datetime(2024, 10, 26)) == datetime(2024, 10, 27, 23, 5)
    day_before = datetime(2024, 3, 30, 23, 5).timestamp()
    assert datetime(2024, 3, 31, 23, 5).timestamp() - day_before == 23 * 3600


def test_tests_run_in_utc_unless_they_ask_for_berlin():
    assert time.tzname[0] == "UTC"


# --- upcoming ---------------------------------------------------------------

WEEKLY_CYCLE = [parse_run("Level=Full sun at 2:05"), parse_run("Level=Incremental mon-sat at 2:05")]


def test_upcoming_defaults_to_the_next_day():
    after = datetime(2024, 3, 2, 12, 0)                                 # Saturday noon
    assert upcoming(WEEKLY_CYCLE, after) == [(datetime(2024, 3, 3, 2, 5), WEEKLY_CYCLE[0])]


def test_upcoming_is_sorted_and_bounded():
    runs = [parse_run("Level=Full 1st sun at 23:05"), *WEEKLY_CYCLE, parse_run("hourly at 0:30")]
    result = upcoming(runs, datetime(2024, 3, 2, 20, 0), datetime(2024, 3, 3, 3, 0))
    assert [(when, spec.text) for when, spec in result] == [
        (datetime(2024, 3, 2, 20, 30), "hourly at 0:30"),
        (datetime(2024, 3, 2, 21, 30), "hourly at 0:30"),
        (datetime(2024, 3, 2, 22, 30), "hourly at 0:30"),
        (datetime(2024, 3, 2, 23, 30), "hourly at 0:30"),
        (datetime(2024, 3, 3, 0, 30), "hourly at 0:30"),
        (datetime(2024, 3, 3, 1, 30), "hourly at 0:30"),
        (datetime(2024, 3, 3, 2, 5), "Level=Full sun at 2:05"),
        (datetime(2024, 3, 3, 2, 30), "hourly at 0:30"),
    ]


def test_upcoming_includes_until_and_excludes_after():
    spec = parse_run("at 2:05")
    result = upcoming([spec], datetime(2024, 3, 1, 2, 5), datetime(2024, 3, 3, 2, 5))
    assert [when for when, _ in result] == [datetime(2024, 3, 2, 2, 5), datetime(2024, 3, 3, 2, 5)]


def test_upcoming_equal_times_keep_the_order_of_the_runs():
    runs = [parse_run("Level=Full at 2:05"), parse_run("Level=Incremental at 2:05")]
    result = upcoming(runs, datetime(2024, 3, 1), datetime(2024, 3, 1, 12, 0))
    assert [spec.level for _, spec in result] == ["Full", "Incremental"]


def test_upcoming_first_only_lists_the_next_run_of_each_run_line():
    runs = [parse_run("hourly at 0:30"), *WEEKLY_CYCLE]
    result = upcoming(runs, datetime(2024, 3, 2, 20, 0), datetime(2024, 3, 9, 20, 0),
                      first_only=True)
    assert [(when, spec.text) for when, spec in result] == [
        (datetime(2024, 3, 2, 20, 30), "hourly at 0:30"),
        (datetime(2024, 3, 3, 2, 5), "Level=Full sun at 2:05"),
        (datetime(2024, 3, 4, 2, 5), "Level=Incremental mon-sat at 2:05"),
    ]


def test_upcoming_with_nothing_in_range():
    assert upcoming([parse_run("feb 31")], datetime(2024, 1, 1)) == []
    assert upcoming([], datetime(2024, 1, 1)) == []


def test_upcoming_over_dst_end_lists_the_repeated_time_twice(berlin):
    spec = parse_run("at 2:30")
    result = upcoming([spec], datetime(2024, 10, 26, 12, 0))
    assert [(when, when.fold) for when, _ in result] == [
        (datetime(2024, 10, 27, 2, 30), 0), (datetime(2024, 10, 27, 2, 30), 1)]
