"""Programs of thought: a model writes the computation, this module checks and runs it, bounded.

A math word problem is answered more often, and faster, when a model writes a short program and
an evaluator computes it than when the model does the arithmetic in free text (docs/models.md).
The program is text a model wrote, so it is data: it is never given to `eval`, `exec` or a shell.
`check_program` parses it with `ast` and accepts only a small language; `run_program` interprets
that syntax tree node by node:

- statements: assignments to names (`x = ...`, `x += ...`, `a, b = 1, 2`), `if`/`elif`/`else`,
  and `for NAME in range(...)` with at most `MAX_ITERATIONS` iterations in all (no `while`);
- expressions: numbers, names, + - * / // % **, comparisons, and/or/not, `a if c else b`,
  lists and tuples of at most `MAX_ITEMS` values and indexing them;
- calls of whitelisted functions only (`FUNCTIONS`: abs, round, min, max, sum, len, int,
  float, floor, ceil, sqrt, gcd, lcm, factorial, comb, ...), also written `math.floor`;
- `print(...)` statements are dropped unread (models write them out of habit);
- no imports, attribute access, function or class definitions, strings, comprehensions,
  lambdas, `while`, `with`, `try`, names starting with `_`, files or network.

Numbers are exact: integer literals stay integers and decimals are read as fractions, so
`0.1 * 3` is 3/10, not 0.30000000000000004. A power is refused when its result would have more
than `MAX_DIGITS` digits, before it is computed; so is a `factorial`/`comb` beyond a bound. The
step count is bounded too; the caller runs this in the math worker process, under a time limit.

This module imports only the standard library: the worker process loads it by path.
"""

from __future__ import annotations

import ast
import math
import re
import warnings
from fractions import Fraction
from typing import Any

__all__ = ["FUNCTIONS", "MAX_DIGITS", "MAX_ITEMS", "MAX_ITERATIONS", "MAX_PROGRAM_CHARS",
           "ProgramError", "check_program", "extract_program", "format_number", "run_program"]

MAX_PROGRAM_CHARS = 4_000
"""Longest program accepted (a GSM8K solution is 100-600 characters)."""
MAX_ITERATIONS = 10_000
"""Most loop iterations of one program, all loops together."""
MAX_STEPS = 200_000
"""Most expression nodes evaluated by one program."""
MAX_ITEMS = 1_000
"""Longest list or tuple."""
MAX_DIGITS = 5_000
"""Most digits of any integer, numerator or denominator a program may make."""
MAX_FACTORIAL = 1_000
"""Largest argument of factorial (1000! has 2,568 digits)."""


class ProgramError(ValueError):
    """The program is not in the language, breaks a bound, or fails when run."""


def _sqrt(x: Any) -> Any:
    if x < 0:
        raise ProgramError("sqrt of a negative number")
    if isinstance(x, int) or (isinstance(x, Fraction) and x.denominator == 1):
        root = math.isqrt(int(x))
        if root * root == x:
            return root
    return math.sqrt(x)


def _bounded_int(name: str, limit: int):
    def check(*args: Any) -> Any:
        for arg in args:
            if not isinstance(arg, int) or isinstance(arg, bool) or not 0 <= arg <= limit:
                raise ProgramError(f"{name} takes whole numbers from 0 to {limit:,}")
        return getattr(math, name)(*args)
    return check


def _round(x: Any, digits: Any = None) -> Any:
    return round(x) if digits is None else round(x, int(digits))


FUNCTIONS: dict[str, Any] = {
    "abs": abs, "round": _round, "min": min, "max": max, "sum": sum, "len": len,
    "int": lambda x: int(x), "float": lambda x: x if isinstance(x, Fraction) else float(x),
    "floor": math.floor, "ceil": math.ceil, "sqrt": _sqrt, "gcd": math.gcd, "lcm": math.lcm,
    "factorial": _bounded_int("factorial", MAX_FACTORIAL),
    "comb": _bounded_int("comb", MAX_FACTORIAL), "perm": _bounded_int("perm", MAX_FACTORIAL),
    "range": range, "pi": None, "e": None,
}
"""Functions a program may call; `math.NAME` names the same ones (`pi`, `e` are constants)."""
CONSTANTS = {"pi": math.pi, "e": math.e}

_STATEMENTS = (ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Expr, ast.Pass)
_EXPRESSIONS = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Name,
                ast.Constant, ast.List, ast.Tuple, ast.Subscript, ast.Attribute, ast.Load,
                ast.Store, ast.operator, ast.unaryop, ast.boolop, ast.cmpop, ast.expr_context,
                ast.keyword)
_CODE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


def extract_program(reply: str) -> str:
    """The code a model's reply holds: its first fenced block, else the reply itself."""
    found = _CODE.search(reply)
    return (found.group(1) if found else reply).strip()


def _function_name(node: ast.AST) -> str | None:
    """`floor` for `floor` or `math.floor`; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "math"):
        return node.attr
    return None


def check_program(source: str) -> ast.Module:
    """The program's syntax tree, once every node is in the language (module docstring).

    Raises:
        ProgramError: naming the first construct outside the language and its line.
    """
    if not isinstance(source, str) or not source.strip():
        raise ProgramError("the program is empty")
    if len(source) > MAX_PROGRAM_CHARS:
        raise ProgramError(f"the program is {len(source):,} characters "
                           f"(limit {MAX_PROGRAM_CHARS:,})")
    try:
        with warnings.catch_warnings():  # "1if" parses, with a SyntaxWarning about the literal
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ProgramError(f"not a valid program: {exc}") from None
    tree = _DropPrints().visit(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, ast.Module):
            continue
        if isinstance(node, ast.stmt) and not isinstance(node, _STATEMENTS):
            raise ProgramError(f"line {line}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.expr) and not isinstance(node, _EXPRESSIONS):
            raise ProgramError(f"line {line}: {type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ProgramError(f"line {line}: names starting with _ are not allowed")
        if isinstance(node, ast.Attribute) and (_function_name(node) not in FUNCTIONS):
            raise ProgramError(f"line {line}: attribute access is not allowed")
        if isinstance(node, ast.Constant) and not (
                isinstance(node.value, int | float) or node.value is None):
            if not (isinstance(node.value, str) and _alone(tree, node)):
                raise ProgramError(f"line {line}: only numbers are allowed as constants")
        if isinstance(node, ast.Call):
            name = _function_name(node.func)
            if name not in FUNCTIONS or name in CONSTANTS:
                shown = name or type(node.func).__name__
                allowed = ", ".join(sorted(n for n in FUNCTIONS if n not in CONSTANTS))
                raise ProgramError(f"line {line}: calling {shown} is not allowed (allowed: "
                                   f"{allowed})")
            if node.keywords:
                raise ProgramError(f"line {line}: keyword arguments are not allowed")
        if isinstance(node, ast.For) and not (
                isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Call)
                and _function_name(node.iter.func) == "range" and not node.orelse):
            raise ProgramError(f"line {line}: only `for NAME in range(...)` loops are allowed")
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                if not all(isinstance(n, ast.Name) for n in names):
                    raise ProgramError(f"line {line}: assign to names only")
    return tree


def _alone(tree: ast.Module, node: ast.Constant) -> bool:
    """A string standing alone as a statement (a comment the model wrote as a string)."""
    return any(isinstance(s, ast.Expr) and s.value is node for s in ast.walk(tree))


class _DropPrints(ast.NodeTransformer):
    """`print(...)` statements become `pass`.

    Models write them out of habit; the result is read from `answer`, and what they would
    print is never evaluated.
    """

    def visit_Expr(self, node: ast.Expr) -> ast.stmt:
        if isinstance(node.value, ast.Call) and _function_name(node.value.func) == "print":
            return ast.copy_location(ast.Pass(), node)
        return node


def _digits(value: int) -> int:
    return len(str(abs(value))) if abs(value) < 10 ** 4300 else MAX_DIGITS + 1


def _check_size(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise ProgramError(f"a value has more than {MAX_DIGITS:,} digits")
    if isinstance(value, Fraction) and max(value.numerator.bit_length(),
                                           value.denominator.bit_length()) > MAX_DIGITS * 3.33:
        raise ProgramError(f"a value has more than {MAX_DIGITS:,} digits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProgramError("a value is infinite or not a number")
    if isinstance(value, list | tuple) and len(value) > MAX_ITEMS:
        raise ProgramError(f"a list is longer than {MAX_ITEMS:,} items")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, list | tuple) or isinstance(exponent, list | tuple):
        raise ProgramError("** takes numbers")
    size = math.log10(abs(base)) if base not in (0, 1, -1) else 0.0
    if size and abs(exponent) * max(size, 1 / 3.33) > MAX_DIGITS:
        raise ProgramError(f"a power would have more than {MAX_DIGITS:,} digits")
    if isinstance(exponent, Fraction) and exponent.denominator == 1:
        exponent = int(exponent)
    if isinstance(exponent, int) and isinstance(base, int) and exponent < 0:
        return Fraction(base) ** exponent
    if isinstance(exponent, Fraction) or isinstance(base, Fraction) and not isinstance(exponent,
                                                                                      int):
        return float(base) ** float(exponent)
    return base ** exponent


_BINARY = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: Fraction(a) / Fraction(b) if _exact(a, b) else a / b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b, ast.Pow: _power,
}
_COMPARE = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
            ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
            ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}


def _exact(a: Any, b: Any) -> bool:
    return all(isinstance(x, int | Fraction) and not isinstance(x, bool) for x in (a, b))


class _Interpreter:
    def __init__(self) -> None:
        self.names: dict[str, Any] = {}
        self.steps = 0
        self.iterations = 0

    def run(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            value = self.expr(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, ast.AugAssign):
            current = self.expr(ast.Name(node.target.id, ast.Load(), lineno=node.lineno))
            self.names[node.target.id] = self.binary(node.op, current, self.expr(node.value))
        elif isinstance(node, ast.If):
            self.run(node.body if self.expr(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            for value in self.expr(node.iter):
                self.iterations += 1
                if self.iterations > MAX_ITERATIONS:
                    raise ProgramError(f"loops ran more than {MAX_ITERATIONS:,} iterations")
                self.names[node.target.id] = value
                self.run(node.body)
        elif isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            self.expr(node.value)

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Tuple):
            values = list(value) if isinstance(value, list | tuple) else None
            if values is None or len(values) != len(target.elts):
                raise ProgramError(f"line {target.lineno}: cannot unpack {len(target.elts)} "
                                   "names from that value")
            for name, item in zip(target.elts, values, strict=True):
                self.names[name.id] = item
        else:
            self.names[target.id] = value

    def binary(self, op: ast.operator, a: Any, b: Any) -> Any:
        if type(op) not in _BINARY:
            raise ProgramError(f"operator {type(op).__name__} is not allowed")
        if isinstance(op, ast.Mult) and (isinstance(a, list | tuple | str)
                                        or isinstance(b, list | tuple | str)):
            raise ProgramError("repeating a list with * is not allowed")
        return _check_size(_BINARY[type(op)](a, b))

    def expr(self, node: ast.expr) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ProgramError(f"the program took more than {MAX_STEPS:,} steps")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, float):
                return Fraction(repr(node.value)) if math.isfinite(node.value) else node.value
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            raise ProgramError(f"line {node.lineno}: {node.id} is used before it is given a "
                               "value")
        if isinstance(node, ast.Attribute):
            if node.attr in CONSTANTS:
                return CONSTANTS[node.attr]
            raise ProgramError(f"line {node.lineno}: math.{node.attr} is a function: call it")
        if isinstance(node, ast.BinOp):
            return self.binary(node.op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.UnaryOp):
            value = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return not value
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node, ast.BoolOp):
            value = None
            for operand in node.values:
                value = self.expr(operand)
                if bool(value) != isinstance(node.op, ast.And):
                    return value
            return value
        if isinstance(node, ast.Compare):
            left = self.expr(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self.expr(right_node)
                if type(op) not in _COMPARE:
                    raise ProgramError(f"comparison {type(op).__name__} is not allowed")
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.expr(node.body if self.expr(node.test) else node.orelse)
        if isinstance(node, ast.List | ast.Tuple):
            return _check_size([self.expr(item) for item in node.elts])
        if isinstance(node, ast.Subscript):
            sequence, index = self.expr(node.value), self.expr(node.slice)
            if not isinstance(sequence, list | tuple) or not isinstance(index, int):
                raise ProgramError(f"line {node.lineno}: index a list with a whole number")
            return sequence[index]
        if isinstance(node, ast.Call):
            return self.call(node)
        raise ProgramError(f"{type(node).__name__} is not allowed")

    def call(self, node: ast.Call) -> Any:
        name = _function_name(node.func)
        args = [self.expr(arg) for arg in node.args]
        if name == "range":
            if not 1 <= len(args) <= 3 or not all(isinstance(a, int) for a in args):
                raise ProgramError(f"line {node.lineno}: range takes 1 to 3 whole numbers")
            span = range(*args)
            if len(span) > MAX_ITERATIONS:
                raise ProgramError(f"range of {len(span):,} values (limit {MAX_ITERATIONS:,})")
            return span
        if name in ("sum", "min", "max", "len") and len(args) == 1 and isinstance(args[0], range):
            args = [list(args[0])]
        return _check_size(FUNCTIONS[name](*args))


def run_program(source: str, result: str = "answer") -> Any:
    """Run a checked program and return the value of `result` (a number, exact when it can be).

    Raises:
        ProgramError: it is outside the language, breaks a bound, fails (a division by zero,
            an undefined name), or never sets `result`.
    """
    tree = check_program(source)
    interpreter = _Interpreter()
    try:
        interpreter.run(tree.body)
    except ProgramError:
        raise
    except (ArithmeticError, ValueError, TypeError, IndexError, RecursionError,
            MemoryError) as exc:
        raise ProgramError(f"the program failed: {type(exc).__name__}: {exc}") from None
    if result not in interpreter.names:
        raise ProgramError(f"the program never sets {result}")
    value = interpreter.names[result]
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise ProgramError(f"{result} is not a number")
    return value


def format_number(value: Any) -> str:
    """An integer as such; other values as a short decimal (exact fractions kept to 6 places)."""
    if isinstance(value, Fraction) and value.denominator == 1:
        value = value.numerator
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.6f}".rstrip("0").rstrip(".") if abs(number) >= 1e-6 else f"{number:.6g}"
