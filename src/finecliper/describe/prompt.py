"""The prompt of the video LLM: a YAML file shipped in the package (`prompts/NAME.yaml`) or the user's.

Shipped prompts go by name: `paper` [PAPER, the default: the paper's Video-LLaVA prompt, verbatim] and
`facial-movements-v1` [OURS: our earlier prompt, which avoids emotion words]. A prompt file holds
`question` (the request), an optional `name`, and optional `templates`: per model family (`video_llava`,
or a `model_type` of the hf-video backend), how the question is wrapped, with `{question}` replaced and
`<video>` marking where the clip goes. What reaches the model is the rendered prompt; its hash
(`prompt_hash`) is recorded with every description, so descriptions made with different prompts are never
mixed up.
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
DEFAULT_PROMPT = "paper"  # docs/design.md §5
_KEYS = {"name", "question", "templates"}
_PACKAGE = resources.files("finecliper.describe").joinpath("prompts")


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


def prompt_names() -> list[str]:
    """The names of the prompts shipped with the package."""
    return sorted(p.name[: -len(".yaml")] for p in _PACKAGE.iterdir() if p.name.endswith(".yaml"))


def load_prompt(name_or_path: str | Path | None = None) -> Prompt:
    """The shipped prompt of that name (default: `paper`), or the prompt file at that path."""
    value = DEFAULT_PROMPT if name_or_path is None else str(name_or_path)
    if value in prompt_names():
        text = _PACKAGE.joinpath(f"{value}.yaml").read_text(encoding="utf-8")
        source = f"prompts/{value}.yaml"
    else:
        path = Path(value).expanduser()
        if not path.exists():
            raise UserError(f"--prompt {value} is neither a prompt of the package ({', '.join(prompt_names())}) "
                            "nor a prompt file")
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


def show_prompt(prompt: Prompt, family: str = "video_llava", default_template: str | None = None) -> str:
    """What `finecliper describe --show-prompt` prints: the prompt's name, source, question and the text a
    model of `family` gets, with the hash recorded with every description it makes."""
    rendered = prompt.render(family, default_template)
    return (f"prompt: {prompt.name} ({prompt.source})\n"
            f"question: {prompt.question}\n"
            f"{family} prompt (hash {prompt_hash(rendered)}):\n{rendered}\n")
