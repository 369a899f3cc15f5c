"""The report templates (`report.<lang>.md.j2`, partials `_name.md.j2`) and `render()`.

Templates are looked up in the user's `--template` paths first, then here, so a user can
override one partial. StrictUndefined: a missing value is an error, never an empty string.
No autoescape (this is Markdown, not HTML): data strings go through the `md`/`code` filters.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from budgetdb.errors import BudgetdbError

from .formatting import FILTERS, MissingValueError, finalize

PACKAGE_DIR = Path(__file__).resolve().parent
LANGUAGES = ("zh", "en")


class TemplateError(BudgetdbError):
    """A template could not be found, parsed or rendered."""


class ContextEnvironment(jinja2.Environment):
    """`x.name` and `x['name']` on a context object are its key `name` and nothing else:
    `budget.values` is an error naming the keys there are, not the dict's `values` method (so
    are `sort(attribute=...)`, `map(attribute=...)` and the like, which look keys up so too)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            return self._key(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            return self._key(obj, argument)
        return super().getitem(obj, argument)

    def _key(self, obj: Mapping, key: Any) -> Any:
        if key in obj:
            return obj[key]
        keys = ", ".join(map(str, obj)) or "none"
        hint = f"no key {key!r} here; the keys are: {keys} (docs/templates.md)"
        return self.undefined(hint=hint, obj=obj, name=key)


class _Loader(jinja2.FileSystemLoader):
    """Templates from folders; one that is not UTF-8 is a TemplateError naming it."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        try:
            return super().get_source(environment, template)
        except UnicodeDecodeError as exc:
            where = _searched(self.searchpath[:-1])  # the last is the packaged templates' folder
            raise TemplateError(f"template {template!r} (searched in {where}) is not UTF-8 text: {exc.reason}") from exc


def environment(template_paths: Iterable[str | os.PathLike] = ()) -> jinja2.Environment:
    """A Jinja environment: user directories first, then the packaged templates."""
    search = [str(Path(p)) for p in template_paths] + [str(PACKAGE_DIR)]
    env = ContextEnvironment(
        loader=_Loader(search),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update({name: _strict(function) for name, function in FILTERS.items()})
    # `x.typo is none` is an error too; only `is defined` / `is undefined` ask about undefined values
    env.tests.update({name: _strict(test) for name, test in env.tests.items() if name not in _UNCHECKED_TESTS})
    env.policies["json.dumps_function"] = _dumps
    return env


# the tests meant for undefined values, and those Jinja passes the environment first
_UNCHECKED_TESTS = {"defined", "undefined", "filter", "test"}


def _strict(function: Any) -> Callable[..., Any]:
    """A filter (or test) given an undefined value, or argument, fails as `{{ }}` does, naming
    the missing key."""

    @functools.wraps(function)
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        for given in (value, *args, *kwargs.values()):
            _defined(given)
        return function(value, *args, **kwargs)

    return checked


def _defined(value: Any) -> None:
    """Fail as `{{ }}` does when `value` is undefined: StrictUndefined's error, naming the missing key."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()


def _dumps(value: Any, **kwargs: Any) -> str:
    """`tojson` that fails on an undefined value as `{{ }}` does, instead of 'not JSON serializable',
    and on NaN or an infinity instead of writing what no JSON parser reads."""

    def strict(obj: Any) -> Any:
        _defined(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=strict, allow_nan=False, **kwargs)  # NaN is not JSON


def template_name(lang: str) -> str:
    if lang not in LANGUAGES:
        raise TemplateError(f"unknown report language {lang!r}; use one of: {', '.join(LANGUAGES)}")
    return f"report.{lang}.md.j2"


def render(name: str, context: Mapping[str, Any], template_paths: Iterable[str | os.PathLike] = ()) -> str:
    """Render template `name` with `context`; every problem with a template (not found, not
    UTF-8, a syntax error, an error its code raises, in it or in a partial it includes) is a
    TemplateError of one line naming the file."""
    template_paths = tuple(template_paths)  # read twice: an iterator would be empty the second time
    env = environment(template_paths)
    where = _searched(template_paths)
    try:
        return env.get_template(name).render(**context)
    except TemplateError:  # a template that is not UTF-8 (_Loader)
        raise
    except jinja2.TemplateNotFound as exc:
        missing = f"template {exc.name!r} not found in {where}"
        # a partial a template includes (imports, extends) is named with the line that wants it
        raise TemplateError(missing if exc.name == name else f"{_where(exc, name)}: {missing}") from exc
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or exc.name}:{exc.lineno}: {exc.message}") from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"{_where(exc, name)}: {exc.message}") from exc
    except MissingValueError as exc:
        raise TemplateError(f"{_where(exc, name)}: {exc}") from exc
    except Exception as exc:  # an error the template's own code raised: {{ 1/0 }}
        raise TemplateError(f"{_where(exc, name)} failed: {type(exc).__name__}: {exc}") from exc


def _searched(folders: Iterable[str | os.PathLike]) -> str:
    """The folders a template is looked for in, as an error names them."""
    return ", ".join([*map(str, folders), "the packaged templates"])


def _where(exc: BaseException, name: str) -> str:
    """`template FILE:LINE` of the template line that raised (the innermost, in a partial too)."""
    found = f"template {name}"
    trace = exc.__traceback__
    while trace is not None:
        if "__jinja_exception__" in trace.tb_frame.f_globals:  # a frame Jinja made to point at a template line
            found = f"template {trace.tb_frame.f_code.co_filename}:{trace.tb_lineno}"
        trace = trace.tb_next
    return found
