"""Schema building blocks: directives, sections, resource types and daemons.

Names of resource types and directives match case- and space-insensitively
(``LanAddress`` == ``Lan Address`` == ``lanaddress``); see ``normalize``.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

if TYPE_CHECKING:
    from .model import Resource
    from .types import DirectiveType


def normalize(name: str) -> str:
    return "".join(name.split()).lower()


def attribute_name(name: str) -> str:
    """Canonical directive name -> Python attribute: ``Lan Address`` -> ``lan_address``."""
    return "_".join(name.lower().split())


@dataclass(frozen=True)
class Directive:
    name: str  # canonical spelling, e.g. "Lan Address"
    type: "DirectiveType"  # a value type from bareos.config.types
    default: Any = None
    required: bool = False
    aliases: tuple[str, ...] = ()
    acted_on: bool = True  # False: accepted for compatibility, warned about, ignored
    attribute: Optional[str] = None  # overrides the snake_case name where it would clash (Job "Type")

    @cached_property  # computed once: attribute look-ups on every Section go through it
    def attr(self) -> str:
        return self.attribute or attribute_name(self.name)

    def default_value(self) -> Any:
        if self.default is None and getattr(self.type, "accumulates", False):
            return []
        return self.default


# Attribute names of bareos.config.model.Section that no directive may shadow.
RESERVED_ATTRIBUTES = frozenset({"type", "location", "items", "is_set", "is_set_or_inherited", "line_of"})


class SectionSchema:
    """The directives allowed in a resource or in a nested block."""

    def __init__(self, name: str, directives: Iterable[Directive]) -> None:
        self.name = name
        self.directives = tuple(directives)
        self._by_key: dict[str, Directive] = {}
        for directive in self.directives:
            for spelling in (directive.name, *directive.aliases):
                key = normalize(spelling)
                if key in self._by_key:
                    raise ValueError(f"{name}: directive name {spelling!r} defined twice")
                self._by_key[key] = directive
        self._by_attr = {directive.attr: directive for directive in self.directives}
        clashes = RESERVED_ATTRIBUTES & set(self._by_attr)
        if clashes:
            raise ValueError(f"{name}: directives shadow Section attributes {sorted(clashes)}")

    def directive(self, written_name: str) -> Optional[Directive]:
        """The directive a name written in a config file stands for, or None."""
        return self._by_key.get(normalize(written_name))

    def by_attr(self, attr: str) -> Optional[Directive]:
        return self._by_attr.get(attr)


ANY = "any"
EXACTLY_ONE = "exactly one"
AT_LEAST_ONE = "at least one"


class ResourceSchema(SectionSchema):
    """A resource type. ``finalize(resource)`` returns derived attributes
    (e.g. ``addresses``); ``inherit_via`` names the directive whose referenced
    resource supplies values left unset (Job's ``JobDefs``). ``not_acted_on``: why resources of
    this type are accepted (they load, ``show`` lists them) but change nothing yet; each one
    found is warned about with that reason."""

    def __init__(self, name: str, directives: Iterable[Directive], *, aliases: Iterable[str] = (),
                 count: str = ANY, finalize: Optional[Callable[["Resource"], dict[str, Any]]] = None,
                 inherit_via: Optional[str] = None, not_acted_on: Optional[str] = None) -> None:
        super().__init__(name, directives)
        self.aliases = tuple(aliases)
        self.count = count
        self.finalize = finalize
        self.inherit_via = inherit_via
        self.not_acted_on = not_acted_on


class DaemonSchema:
    def __init__(self, daemon_name: str, resources: Iterable[ResourceSchema]) -> None:
        self.daemon_name = daemon_name  # "bareos-dir": names bareos-dir.conf and bareos-dir.d/
        self.resources = tuple(resources)
        self._by_key = {normalize(spelling): resource
                        for resource in self.resources
                        for spelling in (resource.name, *resource.aliases)}

    def resource(self, written_name: str) -> Optional[ResourceSchema]:
        """The resource type a name written in a config file stands for, or None."""
        return self._by_key.get(normalize(written_name))

    def __repr__(self) -> str:
        return f"<DaemonSchema {self.daemon_name}>"
