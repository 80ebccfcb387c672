"""Binds a syntax tree to a daemon schema: typed values, then whole-config checks.

Checks, in order: known resource types and directives, value types, duplicate
names, resource counts (one Director, ...), references, JobDefs inheritance,
required directives. Derived attributes and warnings come last.
"""

import os
from typing import Any, Iterator, NoReturn

from .errors import ConfigError
from .model import Configuration, Resource, Section
from .parser import DirectiveNode, ResourceNode
from .schema import AT_LEAST_ONE, EXACTLY_ONE, DaemonSchema, Directive
from .types import Addresses, BadValue, Block, Ref, raw_text

Location = tuple[str, int]


def build(resource_nodes: list[ResourceNode], schema: DaemonSchema,
          source: "str | os.PathLike[str]") -> Configuration:
    """Return a Configuration from ResourceNodes; *source* names the config in
    errors that have no line (a missing Director resource)."""
    config = Configuration(schema)
    for node in resource_nodes:
        _add(config, _bind_resource(node, schema))
    _check_counts(config, source)
    for resource in config:
        _check_references(config, resource)
    for resource in config:
        _link_parent(config, resource)
    for resource in config:
        _check_required(resource)
    for resource in config:
        _finalize(resource)
        if resource._schema.not_acted_on:
            config.warnings.append(f"{resource.location[0]}:{resource.location[1]}: warning: {_describe(resource)}"
                                   f" is accepted but not acted on yet ({resource._schema.not_acted_on})")
        config.warnings.extend(_warnings(resource, resource))
    return config


def _fail(location: Location, message: str) -> NoReturn:
    raise ConfigError(location[0], location[1], message)


def _describe(resource: Resource) -> str:
    return f"{resource.type} resource '{resource.name}'"


def _bind_resource(node: ResourceNode, schema: DaemonSchema) -> Resource:
    resource_schema = schema.resource(node.type_name)
    if resource_schema is None:
        known = ", ".join(resource.name for resource in schema.resources)
        _fail((node.file, node.line),
              f"unknown resource type '{node.type_name}' for {schema.daemon_name} (expected one of {known})")
    resource = Resource(resource_schema, node.file, node.line)
    _bind_section(resource, node.directives, f"{resource_schema.name} resource")
    if not resource.is_set("name"):
        _fail(resource.location, f"{resource.type} resource: missing required directive 'Name'")
    return resource


def _bind_section(section: Section, nodes: list[DirectiveNode], context: str) -> None:
    for node in nodes:
        directive = section._schema.directive(node.name)
        if directive is None:
            _fail((node.file, node.line), f"unknown directive '{node.name}' in {context}")
        _store(section, directive, _convert(directive, node), node)


def _convert(directive: Directive, node: DirectiveNode) -> Any:
    kind = directive.type
    location = (node.file, node.line)
    if isinstance(kind, (Block, Addresses)):
        if node.block is None:
            _fail(location, f"'{directive.name}' expects a {{ ... }} block")
        if isinstance(kind, Addresses):
            return kind.convert_block(node.block)
        block = Section(kind.schema, node.file, node.line)
        _bind_section(block, node.block, f"'{directive.name}' block")
        return [block]
    if node.tokens is None:  # the parser sets either tokens or a block
        _fail(location, f"'{directive.name}' takes a value, not a {{ ... }} block")
    try:
        return kind.convert(node.tokens)
    except BadValue as error:
        _fail(location, f"invalid value '{raw_text(node.tokens)}' for '{directive.name}': {error}")


def _store(section: Section, directive: Directive, value: Any, node: DirectiveNode) -> None:
    attr = directive.attr
    if attr not in section._values:
        section._values[attr] = value
        section._lines[attr] = (node.file, node.line)
    elif directive.type.accumulates:
        section._values[attr] = section._values[attr] + value
    else:
        first_file, first_line = section._lines[attr]
        _fail((node.file, node.line), f"'{directive.name}' is set twice (first at {first_file}:{first_line})")


def _add(config: Configuration, resource: Resource) -> None:
    existing = config.get(resource.type, resource.name)
    if existing is not None:
        file, line = existing.location
        _fail(resource.location, f"duplicate {_describe(resource)} (first defined at {file}:{line})")
    if resource._schema.count == EXACTLY_ONE and config.resources(resource.type):
        file, line = config.resources(resource.type)[0].location
        _fail(resource.location, f"only one {resource.type} resource is allowed (first defined at {file}:{line})")
    config.add(resource)


def _check_counts(config: Configuration, source: "str | os.PathLike[str]") -> None:
    for resource_schema in config.schema.resources:
        if resource_schema.count in (EXACTLY_ONE, AT_LEAST_ONE) and not config.resources(resource_schema.name):
            raise ConfigError(source, None, f"no {resource_schema.name} resource defined")


def _references(resource: Resource) -> Iterator[tuple[Directive, Ref, str]]:
    """(directive, its Ref type, a name it refers to) for every reference set in ``resource``."""
    for directive in resource._schema.directives:
        if isinstance(directive.type, Ref) and resource.is_set(directive.attr):
            value = resource._values[directive.attr]
            for name in value if isinstance(value, list) else [value]:
                yield directive, directive.type, name


def _check_references(config: Configuration, resource: Resource) -> None:
    for directive, ref, name in _references(resource):
        if config.get(ref.ref_type, name) is None:
            _fail(resource.line_of(directive.attr),
                  f"{_describe(resource)}: '{directive.name}' names {ref.ref_type} '{name}',"
                  f" which is not defined")


def _link_parent(config: Configuration, resource: Resource) -> None:
    attr = resource._schema.inherit_via
    if attr is None or not resource.is_set(attr):
        return
    directive = resource._directive(attr)
    ref = directive.type
    assert isinstance(ref, Ref), "inherit_via names a reference directive"

    def inherited(section: Section) -> Resource:
        parent = config.get(ref.ref_type, section._values[attr])
        assert parent is not None, "references are checked before parents are linked"
        return parent

    resource._parent = inherited(resource)
    seen: set[int] = set()
    current = resource
    while current.is_set(attr):
        if id(current) in seen:
            _fail(resource.line_of(attr), f"{_describe(resource)}: '{directive.name}' inherits from itself")
        seen.add(id(current))
        current = inherited(current)


def _check_required(resource: Resource) -> None:
    for directive in resource._schema.directives:
        if directive.required and not resource.is_set_or_inherited(directive.attr):
            _fail(resource.location, f"{_describe(resource)}: missing required directive '{directive.name}'")


def _finalize(resource: Resource) -> None:
    if resource._schema.finalize is not None:
        resource._derived.update(resource._schema.finalize(resource))


def _warnings(resource: Resource, section: Section) -> Iterator[str]:
    for attr, value in section._values.items():
        directive = section._directive(attr)
        if not directive.acted_on:
            file, line = section.line_of(attr)
            yield (f"{file}:{line}: warning: '{directive.name}' in {_describe(resource)}"
                   f" is accepted but not acted on yet")
        if isinstance(directive.type, Block):
            for block in value:
                yield from _warnings(resource, block)
