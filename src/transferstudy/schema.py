"""The workflow's configuration schema: generated from the settings groups (``config``), the one source of its keys,
defaults and ranges; validation against it with errors of one or two lines; and Snakemake's nested ``--config``
text read as the schema's types. Free of torch.

    python -m transferstudy schema --out workflow/schemas/config.schema.yaml --readme config/README.md

The same groups give config/README.md its table of every key (``key_table``).
"""

import re
import typing
from dataclasses import MISSING, fields
from pathlib import Path

import yaml

from .config import (BOUNDS, KEY_MAP_SCHEMA, MODEL_SPECS, AblationOptions, AnalysisOptions, ArmRecipe, ArmSearch,
                     ConfigError, CostOptions, DatasetDeclaration, FeatureOptions, Group, PretrainRecipe, ProbeSolver,
                     SourceOptions, SourceProperties, SplitOptions, StudyOptions, SubsetOptions, TrainingArm,
                     TransferabilityOptions, TsneOptions, value_kind)
from .errors import cause

JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "object"}
HEADER = ("# Generated from the settings groups of src/transferstudy/config.py by `make schema` (python -m "
          "transferstudy schema):\n# edit the groups, not this file.\n")


def _words(text):
    return re.sub(r"\s+", " ", text).strip()


def _field_schema(f, kind):
    """The JSON schema of one field of a settings group."""
    meta, kind = f.metadata, value_kind(kind)
    if meta.get("schema") is not None:
        node = dict(meta["schema"])
    elif isinstance(kind, type) and issubclass(kind, Group):
        node = group_schema(kind)
    elif meta.get("items") is not None:
        node = {"type": "array", "items": dict(meta["items"]), "uniqueItems": True,
                **({} if meta.get("allow_empty") else {"minItems": 1})}
    else:
        node = {"type": JSON_TYPES[kind]}
        if meta.get("choices"):
            node["enum"] = list(meta["choices"])
    node.update({bound: meta[bound] for bound in BOUNDS if bound in meta})
    if f.default is not MISSING and f.default is not None and not isinstance(f.default, Group):
        node["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
    node["description"] = _words(meta["help"])
    return node


def group_schema(group, *, description=True):
    """The JSON schema of a settings group: its keys, types, ranges, defaults and what each means. A group with an
    ``enabled`` switch needs its required keys only when enabled (``enabled: false`` is a whole section)."""
    kinds = typing.get_type_hints(group)
    node = {"type": "object", "additionalProperties": False}
    if description and group.__doc__:
        node["description"] = _words(group.__doc__)
    required = [f.name for f in fields(group) if f.default is MISSING]
    if required and "enabled" in kinds:
        node["if"] = {"properties": {"enabled": {"const": False}}, "required": ["enabled"]}
        node["else"] = {"required": required}
    elif required:
        node["required"] = required
    node["properties"] = {f.name: _field_schema(f, kinds[f.name]) for f in fields(group)}
    return node


def config_schema():
    """The whole configuration's JSON schema."""
    top = group_schema(StudyOptions)["properties"]
    arm = {"$ref": "#/$defs/training_arm"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": "Configuration of a transferstudy run. Unknown keys are errors (a typo must not silently fall "
                       "back to a default). Names and cross-references are checked after this schema by "
                       "transferstudy.study.plan.Study, and what only torchvision and timm know by the workflow's first "
                       "job, check_models.",
        "type": "object",
        "additionalProperties": False,
        "required": ["models", "datasets"],
        "properties": {
            **top,
            "source": group_schema(SourceOptions),
            "cost": group_schema(CostOptions),
            "pretrain": {"$ref": "#/$defs/recipe"},
            "models": {"type": "object", "minProperties": 1,
                       "description": "the zoo; each key names a model, each value says where it comes from: "
                                      + ", ".join(f"`{key}`" for key in MODEL_SPECS),
                       "additionalProperties": {"oneOf": [group_schema(spec) for spec in MODEL_SPECS.values()]}},
            "datasets": {"type": "object", "minProperties": 1,
                         "description": "target datasets; each value holds builder options (empty for the "
                                        "defaults); the paper's datasets need `root` (their directory) and may ask "
                                        "for `download: true` where torchvision can fetch them; a dataset of one's "
                                        "own is declared with a `format`",
                         "additionalProperties": {"type": ["object", "null"],
                                                  "if": {"type": "object", "required": ["format"]},
                                                  "then": {"$ref": "#/$defs/declared_dataset"}}},
            "split": group_schema(SplitOptions),
            "features": group_schema(FeatureOptions),
            "probe": group_schema(ProbeSolver),
            "analysis": group_schema(AnalysisOptions),
            "transferability": group_schema(TransferabilityOptions),
            "subsets": group_schema(SubsetOptions),
            "ablation": group_schema(AblationOptions),
            "finetune": {**arm, "description": "fine-tuning the pretrained networks (omit, or enabled: false, to "
                                               "skip the arm)"},
            "scratch": {**arm, "description": "training the same architectures from random initialisation (omit, "
                                              "or enabled: false, to skip)"},
        },
        "$defs": {
            "key_map": KEY_MAP_SCHEMA,
            "declared_dataset": group_schema(DatasetDeclaration),
            "training_arm": group_schema(TrainingArm),
            "recipe": group_schema(PretrainRecipe),
        },
    }


def _valid(f, kind):
    """What a field accepts, in words: its type, choices and bounds."""
    meta, kind = f.metadata, value_kind(kind)
    if meta.get("choices"):
        return ", ".join(map(str, meta["choices"]))
    if meta.get("items") is not None:
        items = meta["items"]
        alternatives = items.get("anyOf", [items])
        what = " or ".join(", ".join(map(str, alternative["enum"])) if "enum" in alternative
                           else alternative.get("title") or JSON_TYPES_WORDS[alternative["type"]]
                           for alternative in alternatives)
        bounds = _bounds_words(items)
        return f"list of {what}{bounds}" + ("" if meta.get("allow_empty") else ", not empty")
    if meta.get("schema") is not None or (isinstance(kind, type) and issubclass(kind, Group)):
        return "mapping"
    return {int: "integer", float: "number", bool: "true, false", str: "text", dict: "mapping"}[kind] + \
        _bounds_words(meta)


JSON_TYPES_WORDS = {"number": "numbers", "integer": "integers", "string": "names"}


def _bounds_words(meta):
    """' >= 0', ' in (0, 1]', ... of a field's (or list items') JSON-schema bounds."""
    low = ("[", meta["minimum"]) if "minimum" in meta else ("(", meta["exclusiveMinimum"]) \
        if "exclusiveMinimum" in meta else None
    high = ("]", meta["maximum"]) if "maximum" in meta else (")", meta["exclusiveMaximum"]) \
        if "exclusiveMaximum" in meta else None
    if low and high:
        return f" in {low[0]}{_bound(low[1])}, {_bound(high[1])}{high[0]}"
    if low:
        return f" {'>=' if low[0] == '[' else '>'} {_bound(low[1])}"
    if high:
        return f" {'<=' if high[0] == ']' else '<'} {_bound(high[1])}"
    return ""


def _bound(value):
    """A bound as written: integers in full with thousands separators (a seed's 4,294,967,295), others short."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _default(f):
    if f.default is MISSING:
        return "required"
    if f.default is None or isinstance(f.default, Group):
        return ""
    value = list(f.default) if isinstance(f.default, tuple) else f.default
    return f"`{yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix('...').strip()}`"


# Each documented section: the key prefix and its group, in the order of config/config.yaml.
SECTIONS = ((StudyOptions, ""), (SourceOptions, "source."), (PretrainRecipe, "pretrain."),
            *((spec, "models.<name>.") for spec in MODEL_SPECS.values()),
            (SourceProperties, "models.<name>.source_properties."), (DatasetDeclaration, "datasets.<name>."),
            (SplitOptions, "split."), (FeatureOptions, "features."), (ProbeSolver, "probe."),
            (AnalysisOptions, "analysis."), (TransferabilityOptions, "transferability."), (SubsetOptions, "subsets."),
            (AblationOptions, "ablation."), (TsneOptions, "ablation.tsne."), (TrainingArm, "<arm>."),
            (ArmRecipe, "<arm>.recipe."), (ArmSearch, "<arm>.search."), (CostOptions, "cost."))


def key_table():
    """config/README.md's table of every key: its default, what it accepts and what it means (Markdown)."""
    rows, seen = ["| key | default | valid | meaning |", "|---|---|---|---|"], set()
    for group, prefix in SECTIONS:
        kinds = typing.get_type_hints(group)
        for f in fields(group):
            key, kind = prefix + f.name, value_kind(kinds[f.name])
            if key in seen or (isinstance(kind, type) and issubclass(kind, Group)):  # a nested group: its own section
                continue
            seen.add(key)
            meaning = _words(f.metadata["help"]).replace("|", "\\|")
            rows.append(f"| `{key}` | {_default(f)} | {_valid(f, kinds[f.name])} | {meaning} |")
    return "\n".join(rows) + "\n"


KEY_TABLE_START = "<!-- keys: generated from src/transferstudy/config.py by `make schema`; do not edit -->\n"
KEY_TABLE_END = "<!-- end of the generated keys -->\n"


def with_key_table(readme_text):
    """``readme_text`` with the generated key table between its markers."""
    start = readme_text.index(KEY_TABLE_START) + len(KEY_TABLE_START)
    end = readme_text.index(KEY_TABLE_END)
    return readme_text[:start] + key_table() + readme_text[end:]


def schema_text():
    """The schema as the workflow's file holds it (YAML, with a header saying where it comes from)."""
    return HEADER + yaml.safe_dump(config_schema(), sort_keys=False, width=120, default_flow_style=None)


def _resolve(schema, root):
    while isinstance(schema, dict) and "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _scalar_types(schema):
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    kinds += sorted({type(v).__name__ for v in schema.get("enum", []) if not isinstance(v, str)})
    return kinds


def from_text(value, kinds):
    """``value`` (text) as the first of ``kinds`` (JSON schema type names) that reads it; unchanged if none."""
    for kind in kinds:
        if kind in ("boolean", "bool") and value in ("true", "false"):
            return value == "true"
        if kind in ("integer", "int"):
            try:
                return int(value)
            except ValueError:
                pass
        if kind in ("number", "float"):
            try:
                return float(value)
            except ValueError:
                pass
        if kind == "null" and value in ("null", "~", ""):
            return None
    return value


def coerce_text_values(value, schema, root=None):
    """``value`` with text where the JSON ``schema`` asks for a number, integer, boolean or null read as one.

    Snakemake passes the scalars of a nested ``--config`` value as text (``--config 'probe={num_penalties:
    5}'`` gives ``{"num_penalties": "5"}``); read against the schema, such an override is what its author meant.
    Text where the schema allows text is left alone (a class named "1" stays "1")."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        alternatives = [_resolve(a, root) for a in schema.get("oneOf", []) + schema.get("anyOf", [])]
        if "then" in schema and isinstance(schema.get("if"), dict):
            alternatives.append(_resolve(schema["then"], root))
        out = {}
        for key, item in value.items():
            child = (schema.get("properties", {}).get(key) or next(
                (a["properties"][key] for a in alternatives if key in a.get("properties", {})), None))
            if child is None and isinstance(schema.get("additionalProperties"), dict):
                child = schema["additionalProperties"]
            out[key] = coerce_text_values(item, child, root) if child is not None else item
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce_text_values(item, schema["items"], root) for item in value]
    if isinstance(value, str):
        kinds = _scalar_types(schema)
        if "string" not in kinds and kinds:
            return from_text(value, kinds)
    return value


def _key_path(path):
    return ".".join(map(str, path)) or "the configuration"


def _schema_message(error, root):
    """One or two lines for a JSON-schema error: the key path, what is wrong, and what would be valid."""
    key, schema = _key_path(error.absolute_path), _resolve(error.schema, root)
    if error.validator == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        where = f"{key} has" if error.absolute_path else "the configuration has"
        return f"{where} unknown key(s) {', '.join(map(repr, unknown))}; valid: {', '.join(known)}"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return f"{key} lacks the required key(s) {', '.join(map(repr, missing))}"
    if error.validator == "enum":
        return f"{key} = {error.instance!r} is not valid; valid: {', '.join(map(str, error.validator_value))}"
    if error.validator in ("oneOf", "anyOf"):
        alternatives = [_resolve(a, root) for a in error.validator_value]
        if isinstance(error.instance, dict):
            # Which alternative the entry means: the one whose required keys it has (a model's `arch`,
            # `torchvision`, ...); its own error says what is wrong within it.
            meant = [i for i, a in enumerate(alternatives) if a.get("required")
                     and set(a["required"]) <= set(error.instance)]
            if len(meant) == 1:
                inner = [e for e in error.context if e.relative_schema_path[0] == meant[0]]
                if inner:
                    return _schema_message(min(inner, key=lambda e: len(e.absolute_path)), root)
            kinds = [a["required"][0] for a in alternatives if a.get("required")]
            if kinds:
                return (f"{key} must have exactly one of the keys {', '.join(kinds)} (found: "
                        f"{', '.join(map(str, error.instance)) or 'none'})")
        return f"{key} = {error.instance!r} is not valid: {schema.get('description', error.message).strip()}"
    return f"{key}: {error.message}"


def validate_config(config, schema):
    """Check ``config`` against the workflow's JSON ``schema``; a ConfigError of one or two lines for the first
    problem found (the key path, what is wrong, what would be valid) instead of a dump of the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        raise ConfigError(_schema_message(errors[0], schema) +
                          (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""))


def _merged(base, update):
    """``update`` merged into ``base`` key by key, as Snakemake merges several config files."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that gives a key twice (the loader Snakemake uses keeps the last,
    silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: YAML's own constructor says what is wrong with it
                continue
            if first != line:
                raise _DuplicateKey(f"key {key!r} is given twice (lines {first} and {line}); YAML would keep only the "
                                    "last: remove one")
        return super().construct_mapping(node, deep)


def read_config_file(path):
    """One configuration file's mapping (empty for an empty file); a file that is not YAML, not a mapping, or
    gives a key twice is a ConfigError naming it."""
    try:
        loaded = yaml.load(Path(path).read_text(), Loader=_UniqueKeyLoader)
    except _DuplicateKey as error:
        raise ConfigError(f"{path}: {error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it as YAML ({cause(error)})") from error
    if not isinstance(loaded, (dict, type(None))):
        raise ConfigError(f"{path}: a configuration file holds a mapping of keys to values, not a "
                          f"{type(loaded).__name__}")
    return loaded or {}


def load_config(paths):
    """A configuration as the workflow reads it: the YAML files merged in order, checked against the schema."""
    config = {}
    for path in paths:
        config = _merged(config, read_config_file(path))
    validate_config(config, config_schema())
    return config
