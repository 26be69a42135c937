"""Planning an experiment: the sample-size calculator over values as a person types them. (Apart from the service,
which the checkout imports, so that the checkout never loads NumPy and SciPy.)"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from loyalty.core.errors import FieldProblem, InvalidInput
from loyalty.experiments import stats


def sample_size(
    baseline_mean: object, sd: object, effect: object, alpha: object = "0.05", power: object = "0.8"
) -> dict[str, Any]:
    """The sample-size calculator over raw values (text or numbers): n per group to detect a relative `effect` on a
    mean `baseline_mean` with standard deviation `sd`. InvalidInput naming each field that is not a number."""
    values: dict[str, Decimal] = {}
    problems: list[FieldProblem] = []
    for name, value in (("baseline_mean", baseline_mean), ("sd", sd), ("effect", effect), ("alpha", alpha)):
        values[name] = _decimal(name, value, problems)
    values["power"] = _decimal("power", power, problems)
    if problems:
        raise InvalidInput(problems)
    n = stats.sample_size(values["baseline_mean"], values["sd"], values["effect"], values["alpha"], values["power"])
    return {"per_group": n, "total": 2 * n, **{name: str(value) for name, value in values.items()}}


def _decimal(name: str, value: object, problems: list[FieldProblem]) -> Decimal:
    try:
        number = Decimal(str(value).strip()) if isinstance(value, (str, int, float)) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or len(str(value)) > 40:
        problems.append(FieldProblem(name, "must be a number, such as 0.05"))
        return Decimal(0)
    return number
