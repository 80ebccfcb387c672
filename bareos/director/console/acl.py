"""Console ACLs as Bareos applies them (``Command ACL``, ``Job ACL``, ... and Profiles).

A named console's list for one kind of ACL is its own entries followed by those of each of
its profiles, in order.  The list is read from the start and the first entry that matches
decides: an entry starting with ``!`` denies, any other allows.  An entry matches a value
when it is ``*all*``, equals the value ignoring case, or is a regular expression (it holds
one of ``.()[]|^$+?*``) matching the whole value, ignoring case.  A value no entry matches
is denied, and so is everything of a kind the console has no entries for.

Names checked against ACLs other than ``Where`` and ``Plugin Options`` must be valid
resource names (letters, digits and ``:.-_/`` and blanks), else they are denied.
"""

import functools
import re

#: The ACLs whose values are paths or plugin options, not resource names.
FREE_TEXT_ACLS = ("where_acl", "plugin_options_acl")

_REGEX_CHARACTERS = frozenset(".()[]|^$+?*")
_VALID_NAME = re.compile(r"[A-Za-z0-9:.\-_/ ]+")
_MAX_NAME_LENGTH = 127


def acl_entries(console, profiles, acl_name):
    """The entries of ``acl_name`` (``"job_acl"``...) in the order they are read:
    the console's own, then each profile's (``profiles``: the Profile resources)."""
    entries = list(getattr(console, acl_name, None) or [])
    for profile in profiles:
        entries += getattr(profile, acl_name, None) or []
    return entries


def acl_decision(entries, acl_name, value):
    """True when ``entries`` allow ``value``, False when they deny it or say nothing."""
    if acl_name not in FREE_TEXT_ACLS and not is_valid_name(value):
        return False
    for entry in entries:
        entry = entry.strip()
        denies = entry.startswith("!")
        if _matches(entry[1:] if denies else entry, value):
            return not denies
    return False


def is_valid_name(value):
    return (bool(value) and not value.startswith(" ") and len(value) <= _MAX_NAME_LENGTH
            and _VALID_NAME.fullmatch(value) is not None)


def _matches(pattern, value):
    if pattern.lower() == "*all*" or pattern.lower() == value.lower():
        return True
    if _REGEX_CHARACTERS.isdisjoint(pattern):
        return False
    compiled = _compile(pattern)
    return compiled is not None and compiled.fullmatch(value) is not None


@functools.lru_cache(maxsize=512)
def _compile(pattern):
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None             # not a regular expression: it only ever matched exactly
