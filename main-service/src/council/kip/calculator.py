"""A safe arithmetic evaluator for the calculator tool: parses to an AST and interprets a whitelist, no eval."""

import ast
import math
import operator
from collections.abc import Callable

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 256
MAX_MAGNITUDE = 1e100

Number = int | float


class CalculationError(ValueError):
    """The expression is not plain arithmetic, or its value is out of bounds."""


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "log": math.log,
}
_CONSTANTS: dict[str, Number] = {"pi": math.pi, "e": math.e}


def calculate(expression: str) -> Number:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"The expression is longer than {MAX_EXPRESSION_CHARS} characters.")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError as error:
        raise CalculationError(f"Not an arithmetic expression: {expression!r}.") from error
    try:
        value = _evaluate(tree.body)
    except CalculationError:
        raise
    except (ArithmeticError, ValueError, TypeError) as error:
        raise CalculationError(f"Cannot compute {expression!r}: {error}.") from error
    if not math.isfinite(value):
        raise CalculationError(f"{expression!r} has no finite value.")  # every step is checked; this guards the answer
    if abs(value) > MAX_MAGNITUDE:
        raise CalculationError("The result is too large.")
    return value


def _evaluate(node: ast.expr) -> Number:
    match node:
        case ast.Constant(value=bool()):
            raise CalculationError("Booleans are not numbers here.")
        case ast.Constant(value=float() as value) if not math.isfinite(value):
            raise CalculationError("A number in the expression is too large to be finite.")  # 1e999 parses as inf
        case ast.Constant(value=int() | float() as value):
            return value
        case ast.Name(id=name) if name in _CONSTANTS:
            return _CONSTANTS[name]
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
            return _UNARY[type(op)](_evaluate(operand))
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            lhs, rhs = _evaluate(left), _evaluate(right)
            if isinstance(op, ast.Pow) and (abs(rhs) > MAX_EXPONENT or abs(lhs) > MAX_MAGNITUDE):
                raise CalculationError(f"Exponents are limited to {MAX_EXPONENT}.")
            return _bounded(_BINARY[type(op)](lhs, rhs))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS and args:
            return _bounded(_FUNCTIONS[name](*(_evaluate(arg) for arg in args)))
        case _:
            raise CalculationError(f"Unsupported element in the expression: {ast.dump(node)[:60]}.")


def _bounded(result: Number) -> Number:
    """An intermediate result, or an error: NaN and infinities are never reported as answers."""
    if isinstance(result, complex) or not math.isfinite(result) or abs(result) > MAX_MAGNITUDE:
        raise CalculationError("An intermediate result is out of bounds or not a finite number.")
    return result
