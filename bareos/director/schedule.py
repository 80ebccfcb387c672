"""The director's schedule language: one ``Run =`` line of a Schedule resource.

    spec = parse_run("Level=Full Pool=Monthly 1st sun at 2:05")
    spec.level                      # "Full"
    spec.overrides                  # {"Pool": "Monthly"}
    spec.matches(datetime(2024, 3, 3, 2, 5))      # True
    next_run(spec, datetime.now())  # first matching minute after now, or None
    upcoming([spec, ...], after)    # [(datetime, RunSpec), ...] for the next day

Semantics follow the Bareos director, which keeps a Run as six sets (hour,
day of month, month, weekday, week of month, week of year) plus one minute:

* Every set starts full, so a Run without any date words runs every day, and
  a Run without ``at`` runs *every hour* at minute 0.  The first word of a kind
  (first weekday, first month, ...) empties that set, later ones add to it.
* ``at H:MM`` (also ``H:MMam``/``H:MMpm``, 12am = 0:00, 12pm = 12:00) sets the
  hour set and the minute; several times add hours but share one minute.
* ``hourly`` fills the hour set, so ``hourly at 0:15`` is every hour at :15.
  ``daily`` fills the weekdays, ``monthly`` the months, and ``weekly`` the days
  of month and weeks of month and of year: none of them narrows anything.
  ``weekly at 3:00`` therefore runs every day; add a weekday (``sun``).
  Quirk kept from Bareos: after ``daily`` (and ``weekly``) a day-of-month
  number no longer narrows the days, e.g. ``daily 15`` is still every day.
* ``1st``..``5th`` (``first``..``fifth``) is the week of the month counted
  from its first day: days 1-7, 8-14, 15-21, 22-28, 29-31.  ``last`` is the
  last seven days of the month, so ``last fri`` is the last Friday.
* ``wNN`` (w00..w53) is the ISO week of the year, counted within the calendar
  year: days before ISO week 1 are w00, and late-December days that ISO gives
  to week 1 of the next year stay w53.  Weeks start on Monday.
* Plain numbers are days of the month (``on`` is an optional filler word).
  Ranges (``mon-fri``, ``jan-mar``, ``2nd-5th``, ``2-31``, ``w10-w20``) may
  wrap (``fri-mon``); ``a/b`` and ``wAA/wBB`` are the modulo forms: day a,
  a+b, a+2b, ... (weeks likewise).
* Matching uses local wall-clock time.  A time that does not exist (the hour
  skipped when daylight saving time starts) never runs that day; a time that
  occurs twice (when it ends) runs at both instants, as in Bareos, which
  evaluates the local time every hour.

Naive datetimes are local time; aware ones are converted.  ``next_run`` and
``upcoming`` return naive local datetimes for a naive ``after`` (``fold=1`` marks
the second of two equal wall-clock times) and aware ones in ``after``'s zone
otherwise.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

__all__ = ["ScheduleError", "RunSpec", "parse_run", "next_run", "upcoming", "week_of_year",
           "LEVELS", "OVERRIDES"]


class ScheduleError(ValueError):
    """A Run directive that cannot be parsed; the message names the offending word."""


# --- vocabulary -------------------------------------------------------------

LEVELS = ("Full", "Base", "Incremental", "Differential", "Since", "VirtualFull",
          "Catalog", "InitCatalog", "VolumeToCatalog", "DiskToCatalog", "Data")
_LEVELS = {level.lower(): level for level in LEVELS}

# Override name -> how its value is converted.
_NAME, _BOOL, _PRIORITY, _DURATION = "a resource name", "yes or no", "a priority", "a duration"
OVERRIDES = {
    "Pool": _NAME, "FullPool": _NAME, "IncrementalPool": _NAME, "DifferentialPool": _NAME,
    "NextPool": _NAME, "Storage": _NAME, "Messages": _NAME,
    "Priority": _PRIORITY, "SpoolData": _BOOL, "Accurate": _BOOL, "MaxRunSchedTime": _DURATION,
}
_OVERRIDES = {name.lower(): name for name in OVERRIDES}
_BOOLEANS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}

# Date/time words: word -> (kind, value).  Weekdays use tm_wday numbering (0 = Sunday),
# months 1-12, weeks of month 1-5.
_WORDS: dict[str, tuple[str, int]] = {"on": ("filler", 0), "at": ("at", 0), "last": ("last", 0),
                                      "hourly": ("hourly", 0), "daily": ("daily", 0),
                                      "weekly": ("weekly", 0), "monthly": ("monthly", 0)}
for _number, _name in enumerate(("sunday", "monday", "tuesday", "wednesday", "thursday",
                                 "friday", "saturday")):
    _WORDS[_name] = _WORDS[_name[:3]] = ("weekday", _number)
for _number, _name in enumerate(("january", "february", "march", "april", "may", "june", "july",
                                 "august", "september", "october", "november", "december"), 1):
    _WORDS[_name] = _WORDS[_name[:3]] = ("month", _number)
for _number, _names in enumerate((("1st", "first"), ("2nd", "second"), ("3rd", "third"),
                                  ("4th", "fourth"), ("5th", "fifth")), 1):
    for _name in _names:
        _WORDS[_name] = ("week", _number)

# The six sets of a Run and what "everything" is for each.
_FULL = {
    "hours": frozenset(range(24)),
    "days_of_month": frozenset(range(1, 32)),
    "months": frozenset(range(1, 13)),
    "weekdays": frozenset(range(7)),
    "weeks_of_month": frozenset(range(1, 6)),
    "weeks_of_year": frozenset(range(54)),
}
_SET_OF_KIND = {"weekday": "weekdays", "month": "months", "week": "weeks_of_month"}

_DATE_WORDS_HELP = ("expected a weekday, month, 1st-5th, last, a day number 1-31, wNN, "
                    "hourly/daily/weekly/monthly, 'on', or 'at H:MM'")


# --- the parsed Run ---------------------------------------------------------

@dataclass(frozen=True)
class RunSpec:
    """One parsed ``Run =`` line.

    ``level`` is the canonical level name (``"Full"``) or None when the job's
    own level applies; ``overrides`` maps canonical override names (``Pool``,
    ``Storage``, ``Priority``, ``SpoolData``, ...) to their values (names as
    str, Priority as int, SpoolData/Accurate as bool, MaxRunSchedTime as the
    duration text).  The remaining fields are the sets described in the
    module docstring.
    """

    text: str
    level: str | None = None
    overrides: dict = field(default_factory=dict)
    minute: int = 0
    hours: frozenset = _FULL["hours"]
    days_of_month: frozenset = _FULL["days_of_month"]
    months: frozenset = _FULL["months"]
    weekdays: frozenset = _FULL["weekdays"]          # 0 = Sunday ... 6 = Saturday
    weeks_of_month: frozenset = _FULL["weeks_of_month"]  # 1st..5th
    last_week: bool = False                          # the last seven days of the month
    weeks_of_year: frozenset = _FULL["weeks_of_year"]

    def matches_day(self, day: date) -> bool:
        """Whether the Run fires at some hour of this calendar day."""
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        return (day.day in self.days_of_month
                and day.month in self.months
                and (day.weekday() + 1) % 7 in self.weekdays
                and ((day.day - 1) // 7 + 1 in self.weeks_of_month
                     or (self.last_week and day.day > days_in_month - 7))
                and week_of_year(day) in self.weeks_of_year)

    def matches(self, when: datetime) -> bool:
        """Whether the Run fires in the minute of ``when`` (seconds are ignored)."""
        local = _local_wall_clock(when)
        return (local.minute == self.minute and local.hour in self.hours
                and self.matches_day(local.date()))


def week_of_year(day: date) -> int:
    """Bareos' week of the year, 0-53 (see the module docstring)."""
    jan4 = date(day.year, 1, 4)
    first_monday = jan4 - timedelta(days=jan4.weekday())
    if day < first_monday:
        return 0
    return (day - first_monday).days // 7 + 1


# --- parsing ----------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:
    (?P<quoted>"(?:[^"\\]|\\.)*")   # "a \"quoted\" name"
  | (?P<punct>[=,])
  | (?P<word>[^\s=,"]+)
  | (?P<bad>")                     # an unterminated quote
)""", re.VERBOSE)


def _tokenize(text):
    """Words, ``=`` and ``,``; double-quoted strings become one word (quotes removed)."""
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match.group("bad"):
            raise ScheduleError(f"unterminated quoted string in Run directive {text!r}")
        position = match.end()
        if match.group("quoted"):
            tokens.append(("word", re.sub(r"\\(.)", r"\1", match.group("quoted")[1:-1]), True))
        elif match.group("punct"):
            tokens.append((match.group("punct"), match.group("punct"), False))
        else:
            tokens.append(("word", match.group("word"), False))
    return tokens


def parse_run(text: str) -> RunSpec:
    """Parse the value of one ``Run =`` directive; raises :class:`ScheduleError`."""
    tokens = _tokenize(text)
    if not tokens:
        raise ScheduleError("empty Run directive")
    level, overrides, position = _parse_overrides(tokens)
    builder = _Builder()
    rest = tokens[position:]
    for index, (kind, value, quoted) in enumerate(rest):
        if kind == ",":
            continue
        before_equals = index + 1 < len(rest) and rest[index + 1][0] == "="
        if kind == "=" or quoted or before_equals:
            raise ScheduleError(f"unexpected {value!r} in the date/time part of {text!r}; "
                                "Level= and other overrides must come first")
        builder.word(value)
    return RunSpec(text=text.strip(), level=level, overrides=overrides, **builder.fields())


def _parse_overrides(tokens):
    """The leading ``Key=Value`` pairs and bare level names (old style)."""
    level, overrides, position = None, {}, 0
    while position < len(tokens):
        kind, word, quoted = tokens[position]
        has_equals = position + 1 < len(tokens) and tokens[position + 1][0] == "="
        if kind != "word":
            break
        if has_equals:
            key = word.lower()
            if key != "level" and key not in _OVERRIDES:
                raise ScheduleError(f"unknown Run override {word}= (expected Level or one of "
                                    f"{', '.join(OVERRIDES)})")
            if position + 2 >= len(tokens) or tokens[position + 2][0] != "word":
                raise ScheduleError(f"missing value after {word}=")
            value = tokens[position + 2][1]
            if key == "level":
                level = _level(value)
            else:
                name = _OVERRIDES[key]
                overrides[name] = _override_value(name, value)
            position += 3
        elif not quoted and word.lower() in _LEVELS:
            level = _LEVELS[word.lower()]
            position += 1
        elif not quoted and word.lower() in _OVERRIDES | {"level": "Level"}:
            raise ScheduleError(f"expected '=' after {word}")
        else:
            break
    return level, overrides, position


def _level(value):
    try:
        return _LEVELS[value.lower()]
    except KeyError:
        raise ScheduleError(f"unknown job level {value!r} (expected one of "
                            f"{', '.join(LEVELS)})") from None


def _override_value(name, value):
    kind = OVERRIDES[name]
    if kind == _BOOL:
        try:
            return _BOOLEANS[value.lower()]
        except KeyError:
            raise ScheduleError(f"{name}= expects yes or no, got {value!r}") from None
    if kind == _PRIORITY:
        if not value.isdigit() or not 1 <= int(value) <= 2**31 - 1:
            raise ScheduleError(f"{name}= expects a positive integer, got {value!r}")
        return int(value)
    if not value:
        raise ScheduleError(f"{name}= expects {kind}, got an empty string")
    return value


class _Builder:
    """Accumulates the date/time words of one Run into its six sets."""

    def __init__(self):
        self.sets = {name: set(full) for name, full in _FULL.items()}
        self.given = set()  # sets narrowed (or marked as given) by an earlier word
        self.minute = None
        self.last_week = False
        self.seen_at = False

    def fields(self):
        fields = {name: frozenset(values) for name, values in self.sets.items()}
        return dict(fields, minute=self.minute or 0, last_week=self.last_week)

    def add(self, name, values):
        if name not in self.given:
            self.sets[name].clear()
            self.given.add(name)
        self.sets[name].update(values)

    def fill(self, *names):
        for name in names:
            self.given.add(name)
            self.sets[name].update(_FULL[name])

    def word(self, word):
        lower = word.lower()
        if lower.isdigit():
            self.add("days_of_month", [_day_of_month(word)])
        elif "-" in lower:
            self.range(word)
        elif ":" in lower:
            self.time(word)
        elif "/" in lower:
            self.modulo(word)
        elif _is_week_of_year(lower):
            self.add("weeks_of_year", [_week_number(word)])
        elif lower in _WORDS:
            self.keyword(*_WORDS[lower])
        else:
            hint = "; write times as H:MM after 'at'" if re.fullmatch(r"\d+(am|pm)", lower) else ""
            raise ScheduleError(f"unknown word {word!r} in Run directive "
                                f"({_DATE_WORDS_HELP}){hint}")

    def keyword(self, kind, value):
        if kind in _SET_OF_KIND:
            self.add(_SET_OF_KIND[kind], [value])
        elif kind == "at":
            self.seen_at = True
        elif kind == "last":
            self.last_week = True
            self.add("weeks_of_month", [])
        elif kind == "hourly":
            self.fill("hours")
        elif kind == "daily":
            self.sets["weekdays"].update(_FULL["weekdays"])
            self.given.add("days_of_month")
        elif kind == "weekly":
            self.fill("days_of_month", "weeks_of_month", "weeks_of_year")
        elif kind == "monthly":
            self.fill("months")
        # "on" is a filler word

    def time(self, word):
        if not self.seen_at:
            raise ScheduleError(f"time {word!r} must be preceded by the keyword 'at'")
        match = re.fullmatch(r"(\d{1,2}):(\d\d)(am|pm)?", word.lower())
        if not match:
            raise ScheduleError(f"bad time {word!r}: expected H:MM, H:MMam or H:MMpm")
        hour, minute, suffix = int(match[1]), int(match[2]), match[3]
        if suffix and not 1 <= hour <= 12:
            raise ScheduleError(f"bad time {word!r}: the hour of an am/pm time must be 1-12")
        if suffix == "pm" and hour != 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            raise ScheduleError(f"bad time {word!r}: hour must be 0-23 and minute 0-59")
        if self.minute is not None and minute != self.minute:
            raise ScheduleError(f"time {word!r} has another minute than an earlier time of this "
                                f"Run (:{self.minute:02d}); all times of one Run share one "
                                "minute, use a separate Run line")
        self.minute = minute
        self.add("hours", [hour])

    def range(self, word):
        start, _, end = word.lower().partition("-")
        if start.isdigit() and end.isdigit():
            first, last = _day_of_month(start, word), _day_of_month(end, word)
            self.add("days_of_month", _wrapping_range(first, last, 1, 31, word))
        elif _is_week_of_year(start) and _is_week_of_year(end):
            first, last = _week_number(start, word), _week_number(end, word)
            self.add("weeks_of_year", _wrapping_range(first, last, 0, 53, word))
        else:
            (kind, first), (end_kind, last) = _WORDS.get(start, ("?", 0)), _WORDS.get(end, ("?", 0))
            if kind not in _SET_OF_KIND or end_kind != kind:
                raise ScheduleError(f"bad range {word!r}: both ends must be weekdays, months, "
                                    "week positions (1st-5th), day numbers or wNN weeks of "
                                    "the same kind")
            low, high = {"weekday": (0, 6), "month": (1, 12), "week": (1, 5)}[kind]
            self.add(_SET_OF_KIND[kind], _wrapping_range(first, last, low, high, word))

    def modulo(self, word):
        start, _, step = word.lower().partition("/")
        if start.isdigit() and step.isdigit():
            first, every = int(start), int(step)
            if not (1 <= first <= 31 and 1 <= every <= 30):
                raise ScheduleError(f"bad day modulo {word!r}: expected day/interval with day "
                                    "1-31 and interval 1-30")
            if first > every + 1:
                raise ScheduleError(f"bad day modulo {word!r}: the first day must not be "
                                    "later than the interval + 1")
            self.add("days_of_month", range(first, 32, every))
        elif _is_week_of_year(start) and _is_week_of_year(step):
            first, every = _week_number(start, word), int(step[1:])
            if not 1 <= every <= 53:
                raise ScheduleError(f"bad week modulo {word!r}: the interval must be w01-w53")
            if first > every:
                raise ScheduleError(f"bad week modulo {word!r}: the first week must not be "
                                    "later than the interval")
            self.add("weeks_of_year", range(first, 54, every))
        else:
            raise ScheduleError(f"bad modulo {word!r}: expected day/interval such as 1/2 or "
                                "week/interval such as w01/w02")


def _day_of_month(text, context=None):
    day = int(text)
    if not 1 <= day <= 31:
        where = f" in {context!r}" if context else ""
        raise ScheduleError(f"day of month {day}{where} out of range 1-31")
    return day


def _is_week_of_year(word):
    return len(word) == 3 and word[0] in "wW" and word[1:].isdigit()


def _week_number(word, context=None):
    week = int(word[1:])
    if week > 53:
        where = f" in {context!r}" if context else ""
        raise ScheduleError(f"week of year {word!r}{where} out of range w00-w53")
    return week


def _wrapping_range(first, last, low, high, word):
    """first..last inclusive, wrapping past high back to low (fri-mon, nov-feb)."""
    if first == last:
        raise ScheduleError(f"bad range {word!r}: start and end are the same")
    if first < last:
        return range(first, last + 1)
    return list(range(first, high + 1)) + list(range(low, last + 1))


# --- finding run times --------------------------------------------------------

_HORIZON_DAYS = 2 * 366


def _local_wall_clock(when: datetime) -> datetime:
    """``when`` as a naive local datetime (naive input is already local)."""
    if when.tzinfo is None:
        return when
    return datetime.fromtimestamp(when.timestamp())


def _instants(day: date, hour: int, minute: int):
    """The real instants at which local wall-clock time reads day hour:minute:
    none in a DST gap, two (fold 0 and 1) in a DST overlap."""
    wall = datetime(day.year, day.month, day.day, hour, minute)
    if datetime.fromtimestamp(wall.timestamp()) != wall:
        return []
    second = wall.replace(fold=1)
    if second.timestamp() != wall.timestamp():
        return [wall, second]
    return [wall]


def _next_timestamp(spec: RunSpec, after_ts: float, limit_ts: float):
    """(timestamp, naive local datetime) of the first run after after_ts, or None
    when none is found up to the local day containing limit_ts."""
    day = datetime.fromtimestamp(after_ts).date()
    last_day = datetime.fromtimestamp(limit_ts).date()
    hours = sorted(spec.hours)
    while day <= last_day:
        if spec.matches_day(day):
            for hour in hours:
                for wall in _instants(day, hour, spec.minute):
                    timestamp = wall.timestamp()
                    if timestamp > after_ts:
                        return (timestamp, wall) if timestamp <= limit_ts else None
        day += timedelta(days=1)
    return None


def _present(wall: datetime, like: datetime) -> datetime:
    return wall if like.tzinfo is None else wall.astimezone(like.tzinfo)


def next_run(spec: RunSpec, after: datetime) -> datetime | None:
    """The first minute strictly after ``after`` at which ``spec`` runs, or None
    if there is none within two years (e.g. ``feb 31``)."""
    after_ts = after.timestamp()
    found = _next_timestamp(spec, after_ts, after_ts + _HORIZON_DAYS * 86400)
    return None if found is None else _present(found[1], after)


def upcoming(schedule_runs: list[RunSpec], after: datetime, until: datetime | None = None, *,
             first_only: bool = False) -> list[tuple[datetime, RunSpec]]:
    """Every run of ``schedule_runs`` in (after, until], sorted by time (then by
    the order of the Runs).  ``until`` defaults to one day after ``after``.

    With ``first_only`` each Run contributes only its next run, which is what
    Bareos' "status director" lists under Scheduled Jobs.
    """
    if until is None:
        until = after + timedelta(days=1)
    after_ts, until_ts = after.timestamp(), until.timestamp()
    found = []
    for index, spec in enumerate(schedule_runs):
        since = after_ts
        while (hit := _next_timestamp(spec, since, until_ts)) is not None:
            timestamp, wall = hit
            found.append((timestamp, index, _present(wall, after), spec))
            if first_only:
                break
            since = timestamp
    found.sort(key=lambda item: item[:2])
    return [(when, spec) for _, _, when, spec in found]
