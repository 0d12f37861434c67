"""The model registry's rules on names, versions, aliases, stages and tags (MLflow's), and
its errors, shared by the service and the v1 schemas."""

import posixpath
import re

from mltrail.encoding import InvalidKey, check_key
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.search import And, Comparison, Expr, Or

__all__ = [
    "ACTIVE_STAGES",
    "ALL_STAGES",
    "LATEST_ALIAS",
    "UnknownAlias",
    "canonical_stage",
    "check_alias",
    "check_name",
    "check_tag",
    "check_version",
    "model_not_found",
    "not_prompt",
    "version_not_found",
]

MAX_NAME_LENGTH = 256
MAX_ALIAS_LENGTH = 255
MAX_TAG_VALUE_LENGTH = 100_000
ALL_STAGES = ("None", "Staging", "Production", "Archived")
ACTIVE_STAGES = ("Staging", "Production")
LATEST_ALIAS = "latest"
PROMPT_TAG = "mlflow.prompt.is_prompt"
_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")


def model_not_found(name: str) -> NotFound:
    return NotFound(f"Registered Model with name={name} not found")


def version_not_found(name: str, version: object) -> NotFound:
    return NotFound(f"Model Version (name={name}, version={version}) not found")


def check_name(name: str | None, field: str = "name") -> str:
    """MLflow's rule for a registered model's name."""
    if name is None or name.strip() == "":
        raise InvalidInput(f"Missing value for required parameter '{field}'.")
    if "/" in name or ":" in name:
        raise InvalidInput(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        raise InvalidInput(
            f"Invalid value {name!r} for parameter '{field}' supplied: names must not resolve "
            "to other names (no '.', '..' or repeated separators)."
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"'{field}' exceeds the maximum length of {MAX_NAME_LENGTH} characters")
    return name


def check_version(version: object, field: str = "version") -> int:
    try:
        number = int(str(version))
    except ValueError:
        raise InvalidInput(f"Parameter '{field}' must be an integer, got '{version}'.") from None
    if not 0 < number < 2**31:
        raise InvalidInput(f"Parameter '{field}' must be a positive integer, got '{version}'.")
    return number


def check_alias(alias: str | None, *, setting: bool = False) -> str:
    if not alias:
        raise InvalidInput("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise InvalidInput(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidInput(
            f"Registered model alias name exceeds the maximum length of {MAX_ALIAS_LENGTH} "
            "characters"
        )
    if setting and alias.lower() == LATEST_ALIAS:
        raise InvalidInput("'latest' alias name (case insensitive) is reserved.")
    if setting and _VERSION_ALIAS.match(alias):
        raise InvalidInput(f"Version alias name '{alias}' is reserved.")
    return alias


def canonical_stage(stage: str) -> str:
    for known in ALL_STAGES:
        if stage.lower() == known.lower():
            return known
    raise InvalidInput(
        f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
    )


def check_tag(key: str, value: str) -> tuple[str, str]:
    try:
        check_key(key, "tag")
    except InvalidKey as exc:  # the key rule shared with the SDK and the other routes
        raise InvalidInput(f"Invalid {exc}.") from None
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(
            f"'value' exceeds the maximum length of {MAX_TAG_VALUE_LENGTH} characters"
        )
    return key, value


def not_prompt(where: Expr) -> Expr:
    """MLflow's client adds ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every registry
    search, meaning "not a prompt": a model without that tag matches too (a plain `!=` on a
    tag matches only rows that have it)."""
    if isinstance(where, And | Or):
        return type(where)(tuple(not_prompt(item) for item in where.items))
    excludes = (where.op, str(where.value).lower()) in (("!=", "true"), ("=", "false"))
    if where.entity == "tag" and where.key == PROMPT_TAG and excludes:
        return Or((Comparison("tag", PROMPT_TAG, "IS NULL", None), where))
    return where


class UnknownAlias(InvalidInput):
    """MLflow answers an unknown alias with INVALID_PARAMETER_VALUE; v1 with a 404."""

    status_code = 404
