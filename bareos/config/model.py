"""Typed configuration objects: Section (a resource or nested block) and Configuration."""

from typing import Any, Iterator, Optional

from .schema import DaemonSchema, Directive, ResourceSchema, SectionSchema


class Section:
    """Directive values of one resource or nested block.

    Attributes are canonical directive names in snake_case (``lan_address``);
    an unset directive gives its inherited value (Job <- JobDefs) or default.
    """

    def __init__(self, schema: SectionSchema, file: str, line: int) -> None:
        self._schema = schema
        self._values: dict[str, Any] = {}  # attr -> value, in the order first set
        self._lines: dict[str, tuple[str, int]] = {}  # attr -> (file, line) of the first setting
        self._derived: dict[str, Any] = {}  # computed attributes, e.g. "addresses"
        self._parent: Optional[Section] = None  # the section unset values are inherited from
        self.location = (file, line)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr in self._derived:
            return self._derived[attr]
        return self._lookup(self._directive(attr))

    def _lookup(self, directive: Directive) -> Any:
        if directive.attr in self._values:
            return self._values[directive.attr]
        if self._parent is not None and directive.attr != "name":
            return self._parent._lookup(directive)
        return directive.default_value()

    def override(self, attr: str, value: Any) -> None:
        """Change a directive's value at run time (e.g. ``setip``); the file is not touched."""
        self._directive(attr)
        self._values[attr] = value

    def is_set(self, attr: str) -> bool:
        """True if the directive was written in this section (not inherited or defaulted)."""
        return attr in self._values

    def is_set_or_inherited(self, attr: str) -> bool:
        return self.is_set(attr) or (self._parent is not None and self._parent.is_set_or_inherited(attr))

    def line_of(self, attr: str) -> tuple[str, int]:
        """(file, line) where the directive was first set."""
        return self._lines[attr]

    def items(self) -> list[tuple[str, Any]]:
        """(canonical directive name, value) for each directive that was set."""
        return [(self._directive(attr).name, value) for attr, value in self._values.items()]

    def _directive(self, attr: str) -> Directive:
        """The directive behind attribute ``attr``; AttributeError if there is none."""
        directive = self._schema.by_attr(attr)
        if directive is None:
            raise AttributeError(f"{self._schema.name} has no directive {attr!r}")
        return directive

    @property
    def type(self) -> str:
        return self._schema.name

    def __repr__(self) -> str:
        return f"<{self.type} {dict(self._values)!r}>"


class Resource(Section):
    _schema: ResourceSchema

    def __repr__(self) -> str:
        return f"<{self.type} resource {self._values.get('name')!r} at {self.location[0]}:{self.location[1]}>"


class Configuration:
    """The resources of one daemon's configuration, plus the warnings found loading it.

    Resources are indexed by type and by (type, name) as they are added, so that
    ``resources(type)`` and ``get(type, name)`` cost the same with 10 or 50,000 resources.
    """

    def __init__(self, schema: DaemonSchema) -> None:
        self.schema = schema
        self.warnings: list[str] = []
        self._resources: list[Resource] = []
        self._by_type: dict[str, list[Resource]] = {}  # canonical type name -> in definition order
        self._by_name: dict[str, dict[str, Resource]] = {}  # canonical type name -> name -> resource

    def _type_name(self, type_name: str) -> str:
        resource_schema = self.schema.resource(type_name)
        if resource_schema is None:
            raise KeyError(f"{self.schema.daemon_name} has no resource type {type_name!r}")
        return resource_schema.name

    def add(self, resource: Resource) -> None:
        """Append ``resource``; the binder refuses a duplicate name before it gets here."""
        self._resources.append(resource)
        self._by_type.setdefault(resource.type, []).append(resource)
        self._by_name.setdefault(resource.type, {}).setdefault(resource.name, resource)

    def resources(self, type_name: Optional[str] = None) -> list[Resource]:
        """Resources of one type (all if None), in definition order."""
        if type_name is None:
            return list(self._resources)
        return list(self._by_type.get(self._type_name(type_name), ()))

    def get(self, type_name: str, name: str) -> Optional[Resource]:
        return self._by_name.get(self._type_name(type_name), {}).get(name)

    def only(self, type_name: str) -> Resource:
        """The single resource of a type the schema requires exactly once (e.g. Director)."""
        found = self.resources(type_name)
        if len(found) != 1:
            raise LookupError(f"{len(found)} {self._type_name(type_name)} resources, expected one")
        return found[0]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._resources)

    def __repr__(self) -> str:
        return f"<Configuration {self.schema.daemon_name}: {len(self._resources)} resources>"
