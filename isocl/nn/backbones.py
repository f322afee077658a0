"""The backbone registry: backbones by name, built from a data shape or rebuilt from a `spec()`.

A backbone class registers with `@register_backbone("name")`; its constructor takes `sizes` and `input_shape`
and keyword-only options, and those options (with their defaults) are exactly what a scenario's
`backbone.options` may set.
"""

import inspect
import math

from isocl.nn.contract import Backbone
from isocl.registry import Registry

BACKBONES = Registry("backbone")

SHAPE_ARGUMENTS = ("sizes", "input_shape")  # set by create_backbone from the data, never options


def register_backbone(name: str):
    """Class decorator: register the backbone under `name`, which its spec()'s "type" then carries."""

    def add(cls):
        cls.kind = name
        return BACKBONES.register(name)(cls)

    return add


def backbone_options(type: str) -> dict:
    """The options a backbone type takes, with their defaults."""
    parameters = inspect.signature(BACKBONES.get(type)).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in SHAPE_ARGUMENTS}


def _check_options(type: str, options: dict) -> None:
    allowed = backbone_options(type)
    unknown = [name for name in options if name not in allowed]
    if unknown:
        named = ", ".join(repr(name) for name in unknown)
        raise ValueError(
            f"backbone.options: unknown option{'s' if len(unknown) > 1 else ''} {named} for {type}; "
            f"allowed: {sorted(allowed)}"
        )


def create_backbone(type: str, input_shape: tuple[int, ...], n_classes: int, hidden: list[int], **options) -> Backbone:
    """A new backbone for samples of `input_shape` (e.g. (3, 32, 32) or (64,)) and `n_classes` outputs.

    sizes = [prod(input_shape), *hidden, n_classes]; options are the type's keyword arguments (backbone_options).
    """
    _check_options(type, options)
    if not isinstance(input_shape, list | tuple) or not input_shape:
        raise ValueError(f"input_shape={input_shape!r} is not valid: give one sample's shape, e.g. (3, 32, 32)")
    sizes = [math.prod(input_shape), *hidden, n_classes]
    return BACKBONES.get(type)(sizes, input_shape=tuple(input_shape), **options)


def build_backbone(spec: dict) -> Backbone:
    """Rebuild a backbone from its `spec()` (current sizes included); a spec without input_shape is flat."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in BACKBONES:
        raise ValueError(f"unknown backbone type {kind!r}; choose one of {sorted(BACKBONES)}")
    if "sizes" not in spec:
        raise ValueError(f"a {kind} spec needs its 'sizes'; got keys {sorted(spec)}")
    sizes = spec.pop("sizes")
    input_shape = spec.pop("input_shape", None)
    _check_options(kind, spec)
    return BACKBONES.get(kind)(sizes, input_shape=input_shape, **spec)
