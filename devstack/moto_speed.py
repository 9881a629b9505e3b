"""Eight of moto's per-call costs, cut without changing an answer: applied wherever moto runs.

Profiled over the in-process integration tests (cProfile, moto 5.2.5), moto spent on
every call of every service, besides the call's own work:

- `call_action` asks whether the action is one of the response class's methods by
  listing them all (`inspect.getmembers`, a `getattr` per attribute of the class): 3% of
  the tests' time. `action_methods` answers for the one name asked: a function of the
  class, as `inspect.getmembers(cls, inspect.isfunction)` would have listed it.
- Every UpdateItem (and each Update of a TransactWriteItems) parses its update expression
  twice (to validate the names it uses, then to apply it): 4%, for the dozen or so
  different expressions our code writes. `parsed_update_expressions` keeps the parse of
  each expression text (the tree is only read: moto's validator works on a deep copy).
- Each of the ten walks over an update expression's tree that validate and apply it
  (moto's `DepthFirstTraverser`s) builds the walker's table of node classes and their
  handlers again at every node it visits, twice: a third of the walks' time, which was
  the biggest part of an UpdateItem (and of the integration tests' CPU: 8%, py-spy).
  `kept_processing_maps` builds each walker's table once (its handlers are its own bound
  methods, the same at every node).
- SQS compares each message's clock by making two datetimes (`unix_time_millis`), for
  every message of the queue on every count: 3% with a few hundred messages queued.
  `plain_sqs_clock` reads the same clock as a float.
- The serializer of the query and XML services (EC2, SQS: every Describe) finds each
  field's value by asking six alias providers, made anew for each field of each object,
  which names to try: 8% of the integration tests' CPU, and most of an idle local stack's
  moto (its reconciler's Describe calls, py-spy). Their answer depends only on the
  object's class, the field's shape, that shape's parent and the field's name;
  `kept_alias_keys` asks once for each.
- moto's server finds the backend of every request by listing its own package's folder
  (`list_of_moto_modules`: a listdir and a stat per entry, some 200 system calls): 8% of
  an idle local stack's moto. `listed_modules_once` lists it once (the installed package
  does not change under a running server).
- moto writes its XML answers (EC2's, SQS's) with xmltodict, which checks every element's
  name character by character (10% of a Describe's answer). `checked_xml_names_once`
  checks each name once: the few hundred names of the services' models; one that fails
  the check is refused every time, as before.
- Every attribute a DynamoDB item is given (each attribute of each item written, each
  SET of an update) checks the item's 400 KB limit by measuring every attribute it
  holds, and measuring a map or a list wrapped each value inside it anew, and each
  value inside those, at every level: 10% of the in-process integration tests' moto
  time (cProfile, 2026-12-08), the records being maps of lists of maps.
  `sized_as_they_are` measures a map's and a list's values as they are (the same
  values: the wrapping copied them).

Patches classes and module names at runtime, never the installed package; idempotent.
`tests/unit/test_moto_speed.py` holds each to what it replaces.
"""

from __future__ import annotations

import functools
import inspect
import time
from datetime import datetime
from typing import Any

import xmltodict
from moto import backends as moto_backends
from moto.core import responses as core_responses
from moto.core import serialize as core_serialize
from moto.core import utils as core_utils
from moto.dynamodb.models.dynamo_type import DDBType, DynamoType
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.sqs import models as sqs_models

_FIXED_MARK = "__vpc_provisioner_quick__"
# Distinct update expressions kept parsed (our code writes a few dozen; a bound all the same).
_PARSES_KEPT = 512


def speed_up_moto() -> None:
    """All eight. Idempotent."""
    action_methods()
    parsed_update_expressions()
    kept_processing_maps()
    plain_sqs_clock()
    kept_alias_keys()
    listed_modules_once()
    checked_xml_names_once()
    sized_as_they_are()


class _Methods:
    """What `call_action` asks of the list of a class's methods: whether a name is one."""

    def __init__(self, cls: type[Any]) -> None:
        self._cls = cls

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and inspect.isfunction(getattr(self._cls, name, None))


def action_methods() -> None:
    """`call_action` looks up the one action asked instead of listing every method."""
    if getattr(vars(core_responses)["method_names_from_class"], _FIXED_MARK, False):
        return

    def method_names_from_class(clazz: type[Any]) -> _Methods:
        return _Methods(clazz)

    setattr(method_names_from_class, _FIXED_MARK, True)
    setattr(core_responses, "method_names_from_class", method_names_from_class)  # noqa: B010


def parsed_update_expressions() -> None:
    """Parse each update expression's text once (a text that does not parse raises, as
    before, every time)."""
    make = UpdateExpressionParser.__dict__["make"]
    if getattr(make, _FIXED_MARK, False):
        return
    parse = make.__func__

    @functools.lru_cache(maxsize=_PARSES_KEPT)
    def parsed(cls: Any, expression: str) -> Any:
        return parse(cls, expression)

    def kept(cls: Any, expression: Any) -> Any:
        if not isinstance(expression, str):
            return parse(cls, expression)
        return parsed(cls, expression)

    setattr(kept, _FIXED_MARK, True)
    UpdateExpressionParser.make = classmethod(kept)


def kept_processing_maps() -> None:
    """A tree walker's node classes and handlers built once per walker, not per node."""
    if getattr(DepthFirstTraverser.__dict__["process"], _FIXED_MARK, False):
        return

    def processing_map(self: Any) -> tuple[dict[type[Any], Any], tuple[type[Any], ...]]:
        """The walker's handlers by node class, and those classes (a tuple for isinstance)."""
        kept = self.__dict__.get(_FIXED_MARK)
        if kept is None:
            handlers = self._processing_map()
            kept = self.__dict__[_FIXED_MARK] = (handlers, tuple(handlers))
        return kept  # type: ignore[no-any-return]

    def nodes_to_be_processed(self: Any) -> tuple[type[Any], ...]:
        return processing_map(self)[1]

    def process(self: Any, node: Any) -> Any:
        for node_class, handler in processing_map(self)[0].items():
            if isinstance(node, node_class):
                return handler(node)
        return None

    # No walker of moto's overrides either (moto 5.2.5). moto's own stay reachable
    # (`__wrapped__`), for tests/unit/test_moto_speed.py to hold these to them.
    for patched in (nodes_to_be_processed, process):
        setattr(patched, _FIXED_MARK, True)
        setattr(patched, "__wrapped__", DepthFirstTraverser.__dict__[patched.__name__])  # noqa: B010
    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed
    DepthFirstTraverser.process = process


def plain_sqs_clock() -> None:
    """SQS's message clocks (visible, delayed, sent, received) read `time.time()`."""
    if getattr(vars(sqs_models)["unix_time_millis"], _FIXED_MARK, False):
        return

    def unix_time(dt: datetime | None = None) -> float:
        return time.time() if dt is None else core_utils.unix_time(dt)

    def unix_time_millis(dt: datetime | None = None) -> float:
        return unix_time(dt) * 1000.0

    for patched, name in ((unix_time, "unix_time"), (unix_time_millis, "unix_time_millis")):
        setattr(patched, _FIXED_MARK, True)
        if hasattr(sqs_models, name):
            setattr(sqs_models, name, patched)


# Entries the serializer's caches hold at most: the services' models need a few hundred,
# but moto makes new shapes for every error answer (`get_error_model`), so a long-running
# moto would add one each time; past the bound a cache starts again, empty.
_PICKS_KEPT = 2048


def kept_alias_keys() -> None:
    """An attribute picker's keys to try, asked of its alias providers once for each
    (picker class, providers, object class and Meta, shape, shape's parent, field name):
    what every provider reads (moto 5.2.5); and which of a response's transformers applies
    to a field's path, found once for each path while the response's table of them holds
    the same paths (moto rewrites some tables between calls: a transformer is looked up in
    the table as it is now). The keys are tried on each object as before, in the same
    order, and the first transformer whose path ends the field's applies to its value."""
    picker = core_serialize.AttributePicker
    if getattr(picker.__dict__["__call__"], _FIXED_MARK, False):
        return
    kept: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    transforms: dict[tuple[int, str], tuple[tuple[str, ...], str | None, dict[str, Any]]] = {}
    # What the serializer module reads them as (moto.core.utils's).
    missing = vars(core_utils)["MISSING"]
    get_value = core_utils.get_value

    def keys(self: Any, context: Any) -> tuple[str, ...]:
        obj, shape = context.obj, context.shape
        parent = getattr(shape, "parent", None)
        providers = self.alias_providers
        key = (
            type(self), id(providers), type(obj), getattr(obj, "Meta", None),
            id(shape), id(parent), context.key,
        )  # fmt: skip
        found = kept.get(key)
        if found is None:
            if len(kept) >= _PICKS_KEPT:
                kept.clear()
            # The shapes and the providers' list are kept with the answer: their ids
            # stay theirs while it is kept.
            found = kept[key] = (tuple(self.get_possible_keys(context)), shape, parent, providers)
        return found[0]  # type: ignore[no-any-return]

    def call(self: Any, context: Any) -> Any:
        obj = context.obj
        for possible_key in keys(self, context):
            value = get_value(obj, possible_key, missing)
            if value is not missing:
                break
        else:
            value = None
        transform = transform_of(self.response_transformers, f"{context.key_path}.{context.key}")
        return value if transform is None else transform(value)

    def transform_of(transformers: dict[str, Any], key_path: str) -> Any:
        """The first transformer (in the table's order) whose path ends `key_path`, as the
        table is now (None: none does)."""
        if not transformers:  # moto gives most pickers a new empty table: nothing to keep
            return None
        paths = tuple(transformers)
        key = (id(transformers), key_path)
        found = transforms.get(key)
        if found is None or found[0] != paths:
            if len(transforms) >= _PICKS_KEPT:
                transforms.clear()
            chosen = next((path for path in paths if key_path.endswith(path)), None)
            found = transforms[key] = (paths, chosen, transformers)
        return None if found[1] is None else transformers[found[1]]

    setattr(call, _FIXED_MARK, True)
    setattr(call, "__wrapped__", picker.__dict__["__call__"])  # noqa: B010
    picker.__call__ = call  # type: ignore[method-assign]


def listed_modules_once() -> None:
    """`list_of_moto_modules` answers the names it listed the first time it was asked."""
    listing = vars(moto_backends)["list_of_moto_modules"]
    if getattr(listing, _FIXED_MARK, False):
        return

    @functools.cache
    def listed() -> tuple[str, ...]:
        return tuple(listing())

    def list_of_moto_modules() -> tuple[str, ...]:
        return listed()

    setattr(list_of_moto_modules, _FIXED_MARK, True)
    setattr(list_of_moto_modules, "__wrapped__", listing)  # noqa: B010
    setattr(moto_backends, "list_of_moto_modules", list_of_moto_modules)  # noqa: B010


# Distinct element and attribute names kept checked (the services' models hold a few
# hundred; a bound all the same, past which names are checked every time).
_NAMES_KEPT = 4096


def checked_xml_names_once() -> None:
    """xmltodict checks a name (a string) once it has passed; what fails raises each time."""
    check = vars(xmltodict)["_validate_name"]
    if getattr(check, _FIXED_MARK, False):
        return
    passed: set[tuple[str, str]] = set()

    def _validate_name(value: Any, kind: str) -> None:
        if type(value) is str and (value, kind) in passed:
            return
        check(value, kind)
        if type(value) is str and len(passed) < _NAMES_KEPT:
            passed.add((value, kind))

    setattr(_validate_name, _FIXED_MARK, True)
    setattr(_validate_name, "__wrapped__", check)  # noqa: B010
    setattr(xmltodict, "_validate_name", _validate_name)  # noqa: B010


def sized_as_they_are() -> None:
    """A map's or a list's size is its values' (and a map's keys'), each measured as it
    is; anything else is measured by moto's own `size`, as a value moto did not wrap."""
    size = DynamoType.__dict__["size"]
    if getattr(size, _FIXED_MARK, False):
        return

    def sized(self: DynamoType) -> int:
        kind, value = self.type, self.value
        if kind == DDBType.LIST:
            return sum(sized(v) if type(v) is DynamoType else v.size() for v in value)
        if kind == DDBType.MAP:
            return sum(
                bytesize(k) + sized(v if type(v) is DynamoType else DynamoType(v))
                for k, v in value.items()
            )
        return size(self)  # type: ignore[no-any-return]

    setattr(sized, _FIXED_MARK, True)
    setattr(sized, "__wrapped__", size)  # noqa: B010
    DynamoType.size = sized  # type: ignore[method-assign]
