"""The render budget: a marketer's template may not loop, allocate or run past a bound.

Jinja's sandbox keeps templates away from Python internals, not from looping 10^10 times or asking for a 10 GB
string. Every place where a template makes work passes through here: the sandbox's calls, the intercepted operators,
``~``, every filter, slices, each loop iteration and each joined output. Each hook checks the size of what it is about
to make *before* making it (a huge string is never allocated), charges what was made, and checks a wall-clock
deadline; past any bound the render stops with :class:`OverBudget`. In process, so a render costs microseconds more,
not a subprocess.
"""
from __future__ import annotations

import math
import re
import string
import time
from collections.abc import ItemsView, KeysView, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from itertools import islice
from types import BuiltinMethodType, MethodType
from typing import Any, Callable, Iterable, Iterator

from jinja2 import TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, _PassArg, generate_lorem_ipsum

SECONDS = 1.0  # CPU time of the rendering thread for one render (a save's renders share one budget)
MAX_STEPS = 1_000_000  # loop iterations, calls and filters
MAX_VALUE = 500_000  # characters (or items) of any one value a template makes, and of the output
MAX_BYTES = 32_000_000  # about what one render may allocate, summed over everything it makes
MAX_INT_BITS = 8192
MAX_WIDTH = 10_000  # a format width or precision
ITEM_BYTES = 64  # what one item of a list costs, with the small object it usually holds
CHUNKS = 64  # output chunks measured at once: 64 values of at most MAX_VALUE each exist before a check

_CONTAINERS = (list, tuple, set, frozenset, dict, KeysView, ValuesView, ItemsView)
_SHORT = frozenset({int, float, bool, Decimal, type(None)})  # whose text is short (ints are bounded in bits)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_NUMBER = re.compile(r"\d+")


class OverBudget(Exception):
    """A render went past its budget. Not a ValueError or TypeError, so no Jinja code mistakes it for a bad value."""


CLOCK_EVERY = 64  # steps between looks at the clock: reading a thread's CPU time is a system call (~0.25 µs)


@dataclass
class Budget:
    deadline: float
    steps: int = 0
    allocated: int = 0
    next_look: int = 0  # the step count at which tick() next reads the clock


_current: ContextVar[Budget | None] = ContextVar("retainful_render_budget", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """One budget for the renders inside; an inner scope shares the outer one (a save renders several carts)."""
    if _current.get() is not None:
        yield
        return
    token = _current.set(Budget(time.thread_time() + SECONDS))
    try:
        yield
    finally:
        _current.reset(token)


def tick(steps: int = 1) -> None:
    budget = _current.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps > MAX_STEPS:
            raise OverBudget
        if budget.steps >= budget.next_look:
            budget.next_look = budget.steps + CLOCK_EVERY
            if time.thread_time() > budget.deadline:
                raise OverBudget


def _check(size: int) -> None:
    if size > MAX_VALUE:
        raise OverBudget


def _charge(size: int) -> None:
    budget = _current.get()
    if budget is not None:
        budget.allocated += size
        if budget.allocated > MAX_BYTES:
            raise OverBudget


def _made(value: Any) -> Any:
    """Charge what a hook made; a string loses the heap addresses of object reprs (``{{ ''.join }}``)."""
    if isinstance(value, str):
        _charge(len(value))
        if " at 0x" in value:
            value = value.__class__(_ADDRESS.sub("", value))
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        _charge(ITEM_BYTES * len(value))
    elif isinstance(value, bytes):
        _charge(len(value))
    return value


def weight(*values: Any) -> int:
    """About how long ``str()`` of the values would be, without making it; stops counting past the bound (a list
    of one list repeated a million times is measured once per distinct list)."""
    memo: dict[int, int] = {}
    return sum(_weight(value, memo) for value in values)


def _weight(value: Any, memo: dict[int, int]) -> int:
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, Namespace):  # its repr shows everything stored in it
        value = value._Namespace__attrs
    if isinstance(value, _CONTAINERS):
        known = memo.get(id(value))
        if known is not None:
            return known
        total = 2
        for item in (value.items() if isinstance(value, dict) else value):
            total += _weight(item, memo) + 2
            if total > MAX_VALUE:
                raise OverBudget
        memo[id(value)] = total
        return total
    return 32  # numbers, None, macros, generators: short reprs; the merge views: bounded by the shopper's real data


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _estimated_percent(fmt: str, values: Any, escape: bool) -> int:
    """``fmt % values``: every conversion may print the largest value, padded to its width."""
    specs = _PERCENT_SPEC.findall(fmt)
    args = values if isinstance(values, tuple) else (values,)
    largest = max((weight(v) for v in (values.values() if isinstance(values, dict) else args)), default=0)
    size = len(fmt) + len(specs) * largest
    for width, precision, _ in specs:
        for number in (width, precision):
            if number == "*":
                number = max((abs(a) for a in args if isinstance(a, int)), default=0)
            size += int(number or 0) if int(number or 0) <= MAX_WIDTH else MAX_VALUE + 1
    return size * (6 if escape else 1)


def _estimated_format(fmt: str, args: tuple, kwargs: dict) -> int:
    """``fmt.format(...)``: every field may print the largest argument, padded to its width; a width taken from an
    argument (``{:{}}``) counts as that argument's value."""
    values = (*args, *kwargs.values())
    largest = max((weight(v) for v in values), default=0)
    widest = max((abs(v) for v in values if isinstance(v, int)), default=0)
    size = len(fmt)
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is None:
            continue
        size += largest + sum(int(n) if len(n) < 6 else MAX_VALUE for n in _NUMBER.findall(spec or ""))
        if spec and "{" in spec:
            size += widest
    return size


def _str_method(owner: str | bytes, name: str, args: tuple, kwargs: dict) -> tuple[tuple, int]:
    """The arguments to call a str/bytes method with, and the size of what it will return."""
    size = len(owner)
    if name in ("ljust", "rjust", "center", "zfill") and args:
        return args, max(size, _int(args[0]))
    if name == "expandtabs":
        tab = _int(args[0] if args else kwargs.get("tabsize", 8), 8)
        return args, size + owner.count("\t" if isinstance(owner, str) else b"\t") * max(tab, 0)
    if name == "replace" and len(args) >= 2:
        return args, _estimated_replace(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
    if name == "join" and args:
        items = list(args[0])
        return (items, *args[1:]), weight(items) + len(items) * size
    if name == "translate" and args and isinstance(args[0], dict):
        return args, size * max((weight(v) for v in args[0].values()), default=1)
    if name in ("format", "format_map"):
        values = args[0] if name == "format_map" and args else kwargs
        return args, _estimated_format(str(owner), args if name == "format" else (), dict(values))
    return args, size + weight(*args, *kwargs.values())


def _estimated_replace(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    size = weight(text)
    if isinstance(text, str) and isinstance(old, str):
        occurrences = text.count(old) if old else size + 1
    else:
        occurrences = size + 1
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    return size + occurrences * weight(new)


def _lines(text: Any) -> int:
    return (text.count("\n") if isinstance(text, str) else weight(text)) + 1


def _filter_estimate(name: str, args: tuple, kwargs: dict) -> tuple[tuple, int | None]:
    """The arguments to call a builtin filter with, and the size of what it will return (None: no string made)."""
    value, rest = (args[0] if args else None), args[1:]

    def arg(index: int, key: str, default: Any = None) -> Any:
        return rest[index] if len(rest) > index else kwargs.get(key, default)

    if name == "center":
        return args, max(weight(value), _int(arg(0, "width", 80)))
    if name == "indent":
        width = arg(0, "width", 4)
        return args, weight(value) + _lines(value) * (_int(width) if isinstance(width, int) else weight(width))
    if name == "replace":
        return args, _estimated_replace(value, arg(0, "old"), arg(1, "new"), arg(2, "count", -1))
    if name == "wordwrap":
        size, width = weight(value), max(_int(arg(0, "width", 79), 79), 1)
        lines = size // width + _lines(value)
        tick(lines)  # textwrap works line by line
        return args, size + lines * weight(arg(2, "wrapstring") or "\n")
    if name == "join":
        items = list(value) if value is not None else []
        return (items, *rest), weight(items) + len(items) * weight(arg(0, "d", ""))
    if name == "format":
        return args, _estimated_percent(str(value), tuple(rest) or kwargs, escape=False)
    if name in ("batch", "slice"):
        count = _int(arg(0, "linecount" if name == "batch" else "slices"))
        tick(max(count, 0))
        _check(count)
        return args, None
    if name == "sum" and not isinstance(arg(1, "start", 0), (int, float, Decimal)):
        items = list(value)
        return (items, *rest), len(items) * (weight(items) + weight(arg(1, "start")))
    if name == "tojson":
        return args, (weight(value) + 1) * (6 + 8 * max(_int(arg(0, "indent")), 0))
    if name == "urlize":  # every word may become a link carrying the target and rel
        size = weight(value)
        extra = sum(len(a) for a in (arg(2, "target"), arg(3, "rel")) if isinstance(a, str))
        return args, 3 * size + (size // 2 + 1) * extra
    if name == "pprint":
        return args, 2 * weight(value)
    if name in STRINGIFYING:
        return args, weight(value, *rest, *kwargs.values()) * STRINGIFYING[name]
    return args, None


# Filters that turn their value into a string, with how much longer the result may be (escaping, case mapping).
STRINGIFYING = {"capitalize": 3, "e": 6, "escape": 6, "forceescape": 6, "lower": 3, "safe": 1, "string": 1,
                "striptags": 1, "title": 3, "trim": 1, "truncate": 1, "upper": 3, "urlencode": 9, "wordcount": 1,
                "xmlattr": 6}


def budgeted_filter(name: str, func: Callable) -> Callable:
    """A filter that checks what it will make before making it, and charges the result."""
    skip = 0 if _PassArg.from_obj(func) is None else 1  # the context (or environment) Jinja passes first

    @wraps(func)
    def run(*args, **kwargs):
        tick()
        head, rest = args[:skip], args[skip:]
        rest, size = _filter_estimate(name, rest, kwargs)
        if size is not None:
            _check(size)
        return _made(func(*head, *rest, **kwargs))

    return run


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100):  # noqa: A002 - Jinja's names
    _check(_int(n) * _int(max) * 12)
    tick(_int(n))
    return generate_lorem_ipsum(n, html, min, max)


def budgeted_iter(iterable: Iterable) -> Iterator:
    """A for loop's iterable, counted item by item (:meth:`BudgetedEnvironment._parse` wraps every loop in it)."""
    for item in iterable:
        tick()
        yield item


def _counted(iterable: nodes.Expr) -> nodes.Call:
    counter = nodes.ImportedName(f"{__name__}.budgeted_iter", lineno=iterable.lineno)
    return nodes.Call(counter, [iterable], [], None, None, lineno=iterable.lineno)


class _CodeGenerator(CodeGenerator):
    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame) -> None:  # noqa: N802 - Jinja's visitor naming
        """``a ~ b`` measures its parts before joining them."""
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"environment.budgeted_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with every way to make work checked against the current :func:`scope`."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})  # also turns off compile-time folding of 'x' * 10**10

    def __init__(self, *, filters: dict[str, Callable], **options):
        super().__init__(finalize=_finalize, **options)
        self.filters.update(filters)
        self.filters = {name: budgeted_filter(name, func) for name, func in self.filters.items()}
        self.globals["lipsum"] = _lipsum

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        for const in tree.find_all(nodes.Const):  # 1e999 would compile to the undefined name ``inf``
            if isinstance(const.value, float) and not math.isfinite(const.value):
                raise TemplateSyntaxError("this number is too large", const.lineno, name, filename)
        for loop in list(tree.find_all(nodes.For)):
            loop.iter = _counted(loop.iter)
        for call in list(tree.find_all(nodes.Call)):  # a recursive loop's ``loop(children)``
            if isinstance(call.node, nodes.Name) and call.node.name == "loop" and call.args:
                call.args[0] = _counted(call.args[0])
        return tree

    @staticmethod
    def budgeted_concat(join: Callable, parts: tuple) -> str:
        _check(weight(*parts))
        return _made(join(parts))

    def concat(self, parts: Iterable[str]) -> str:  # every output, block, macro body and {% set %} block
        """Measured a few hundred chunks at a time (C speed), never joined past the bound."""
        if isinstance(parts, list):
            _check(sum(map(len, parts)))
            return _made("".join(parts))
        collected: list[str] = []
        size = 0
        while batch := list(islice(parts, CHUNKS)):
            size += sum(map(len, batch))
            _check(size)
            collected += batch
        return _made("".join(collected))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``'{:>99999999}'.format(1)`` is measured before it formats (the sandbox wraps it at attribute access)."""
        if not isinstance(value, (MethodType, BuiltinMethodType)):  # every attribute read comes here: most are not
            return None
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        owner, name = value.__self__, value.__name__

        @wraps(wrapper)
        def checked(*args, **kwargs):
            _check(_str_method(owner, name, args, kwargs)[1] * (6 if hasattr(owner, "__html__") else 1))
            return _made(wrapper(*args, **kwargs))

        return checked

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - the sandbox's signature
        tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, bytes)):
            args, size = _str_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
            _check(size * (6 if hasattr(owner, "__html__") else 1))
        return _made(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            _check(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            _check(_estimated_percent(left, right, escape=hasattr(left, "__html__")))
        return _made(super().call_binop(context, operator, left, right))

    def getitem(self, obj: Any, argument: Any) -> Any:
        value = super().getitem(obj, argument)
        return _made(value) if isinstance(argument, slice) else value


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise OverBudget
        return
    sequence, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(times, int) and isinstance(sequence, (str, bytes, list, tuple)):
        _check(len(sequence) * times)


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if base.bit_length() * exponent > MAX_INT_BITS:
            raise OverBudget


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` is measured (and charged) before it is turned into text; None prints nothing (a shopper
    without a first name must not read "Hi None")."""
    if value is None:
        return ""
    if value.__class__ not in _SHORT and not isinstance(value, str):
        size = weight(value)
        _check(size)
        _charge(size)
    return value
