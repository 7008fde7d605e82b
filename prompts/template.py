"""A small, strict prompt-template model rendered with langchain-core's f-string PromptTemplate.

Templates are data written by marketers: a name, an immutable version number, the placements they serve,
the variables they declare, and a system and user text. Rendering uses the **f-string** format only:
values are substituted as plain text and never parsed again, so a profile value such as
``{__class__}`` or ``{{`` reaches the prompt verbatim and cannot change the template (jinja2, which
can execute expressions, is never used). Declared and used variables must match exactly; a version may
declare any subset of the variables a request provides, and rendering takes the declared ones (a missing
one, or one no request provides, is an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter
from typing import Annotated

from langchain_core.prompts import PromptTemplate as LangchainPromptTemplate
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.errors import ServiceError

TemplateName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")]
VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,40}$")]


ALLOWED_VARIABLES: dict[str, str] = {
    "profile": "The audience: interests, recent activity, segment, location, age (one labelled line each).",
    "product": "The product facts: name, brand, category, description, features, price.",
    "fields": "One line per output field of the placement with its purpose and character limit.",
    "language": "The language to write in, e.g. English.",
}
"""The variables a request provides (see :func:`creative.context.template_variables`); a template may use
only these."""


class TemplateError(ServiceError, ValueError):
    """A template is malformed, or was rendered with the wrong variables (422: the template is at fault)."""

    status = 422
    code = "template_error"
    param = "template"


class SamplingDefaults(BaseModel):
    """A template version's default sampling; a request's own values win, settings fill the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=128)
    k: int | None = Field(default=None, ge=1, le=128)


def _compile(text: str, part: str) -> LangchainPromptTemplate:
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(text)]
        compiled = LangchainPromptTemplate.from_template(text, template_format="f-string")
    except (ValueError, KeyError, IndexError) as exc:
        raise TemplateError(f"{part} text is not a valid f-string template: {exc}") from exc
    for name, spec, conversion in fields:
        # `{profile:>99999999}` would pad a prompt to any size, `{profile!r}` alter it: plain names only.
        if name is not None and (spec or conversion):
            suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise TemplateError(
                f"{part} text uses {{{name}{suffix}}}: format specs and conversions are not allowed, "
                f"write {{{name}}}"
            )
    return compiled


def used_variables(text: str, part: str) -> list[str]:
    """The variables ``text`` uses, in order; :class:`TemplateError` when it is not a valid f-string."""
    return list(_compile(text, part).input_variables)


class PromptTemplate(BaseModel):
    """One version of a prompt template (system + user message)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: TemplateName
    version: int = Field(ge=1)
    description: str = ""
    placements: list[str] = Field(min_length=1, description="Placements this template writes for.")
    variables: list[VariableName] = Field(description="Every variable the texts use, no more.")
    system: str = Field(min_length=1, max_length=20_000)
    user: str = Field(min_length=1, max_length=20_000)
    sampling: SamplingDefaults = Field(default_factory=SamplingDefaults)

    @model_validator(mode="after")
    def _declared_variables_match(self) -> PromptTemplate:
        used = set(_compile(self.system, "system").input_variables) | set(
            _compile(self.user, "user").input_variables
        )
        declared = set(self.variables)
        unknown = sorted(declared - ALLOWED_VARIABLES.keys())
        if unknown:
            raise ValueError(
                f"template {self.name}@{self.version}: unknown variable(s) {unknown}; a request provides "
                f"only {sorted(ALLOWED_VARIABLES)}"
            )
        if used != declared:
            problems = []
            if used - declared:
                problems.append(f"used but not declared: {sorted(used - declared)}")
            if declared - used:
                problems.append(f"declared but not used: {sorted(declared - used)}")
            raise ValueError(f"template {self.name}@{self.version}: " + "; ".join(problems))
        return self

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def render(self, variables: Mapping[str, str]) -> list[dict[str, str]]:
        """Chat messages with the variables this version declares substituted as plain text.

        ``variables`` may hold every variable a request provides (:data:`ALLOWED_VARIABLES`): a version
        that declares only some of them takes those. Raises :class:`TemplateError` when a declared variable
        is missing or a variable no request provides is given.
        """
        declared = set(self.variables)
        missing = declared - variables.keys()
        unknown = variables.keys() - declared - ALLOWED_VARIABLES.keys()
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing variables {sorted(missing)}")
            if unknown:
                parts.append(f"unknown variables {sorted(unknown)}")
            raise TemplateError(f"cannot render {self.ref}: " + "; ".join(parts))
        messages = []
        for role, text in (("system", self.system), ("user", self.user)):
            compiled = _compile(text, role)
            values = {name: str(variables[name]) for name in compiled.input_variables}
            messages.append({"role": role, "content": compiled.format(**values)})
        return messages
