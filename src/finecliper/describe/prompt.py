"""The prompt of the video LLM: a YAML file shipped in the package (`prompts/default.yaml`) or the user's.

A prompt file holds `question` (the request, no emotion words), an optional `name`, and optional
`templates`: per model family (`video_llava`, or a `model_type` of the hf-video backend), how the
question is wrapped, with `{question}` replaced and `<video>` marking where the clip goes. What reaches
the model is the rendered prompt; its hash (`prompt_hash`) is recorded with every description, so
descriptions made with different prompts are never mixed up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from finecliper.config.yaml_loader import load_yaml
from finecliper.errors import UserError
from finecliper.paths import existing_file

VIDEO_MARK = "<video>"
_KEYS = {"name", "question", "templates"}


@dataclass(frozen=True)
class Prompt:
    name: str
    question: str
    templates: dict[str, str] = field(default_factory=dict)
    source: str = "default"

    def render(self, family: str, default_template: str | None = None) -> str:
        """The question wrapped in the template of `family` (or `default_template`)."""
        template = self.templates.get(family, default_template)
        if template is None:
            raise UserError(
                f"the prompt {self.source} has no template for {family!r} and the model has no chat template; "
                f"add `templates: {{{family}: \"... {VIDEO_MARK} ... {{question}} ...\"}}` to the prompt file"
            )
        return template.replace("{question}", self.question)


def load_prompt(path: str | Path | None = None) -> Prompt:
    """The prompt in `path`, or the default one shipped with the package."""
    if path is None:
        text = resources.files("finecliper.describe").joinpath("prompts/default.yaml").read_text(encoding="utf-8")
        source = "default.yaml"
    else:
        path = existing_file(path, "prompt file")
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise UserError(f"prompt file {source} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("question"), str) or not data["question"].strip():
        raise UserError(f"prompt file {source} must be a mapping with a non-empty `question`")
    unknown = set(data) - _KEYS
    if unknown:
        raise UserError(f"prompt file {source} has unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_KEYS))})")
    templates = data.get("templates") or {}
    if not isinstance(templates, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in templates.items()):
        raise UserError(f"prompt file {source}: `templates` must map model families to strings")
    for family, template in templates.items():
        if "{question}" not in template or VIDEO_MARK not in template:
            raise UserError(f"prompt file {source}: the {family} template needs both {{question}} and {VIDEO_MARK}")
    name = str(data.get("name") or Path(source).stem)
    return Prompt(name=name, question=" ".join(data["question"].split()), templates=templates, source=source)


def prompt_hash(rendered: str) -> str:
    """Short, stable identifier of the exact prompt text a model saw."""
    return hashlib.sha256(rendered.encode("utf-8")).hexdigest()[:16]
