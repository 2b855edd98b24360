"""Tests for the attribute schema (``deepfake_lab.attributes``)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from deepfake_lab.attributes import (
    SCHEMA_VERSION,
    SYNTHFACES_SCHEMA,
    AttributeRangeError,
    AttributeSchema,
    AttributeValueError,
    SchemaMismatchError,
    UnknownAttributeError,
    face_recognition_schema,
    learned_identity_schema,
    synthfaces_schema,
)

S = SYNTHFACES_SCHEMA

ALL_SCHEMAS = {
    "synthfaces": SYNTHFACES_SCHEMA,
    "learned": learned_identity_schema(["ann", "bob", "cy"]),
    "face_recognition": face_recognition_schema(16),
}


def _midway(schema: AttributeSchema, t: float) -> dict[str, float]:
    """Every attribute at fraction ``t`` of its range, in physical units."""
    return {a.name: a.low + t * (a.high - a.low) for a in schema.attributes}


# ---- conversion ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(ALL_SCHEMAS))
def test_dict_tensor_dict_round_trip(kind):
    """Physical dict -> normalised tensor -> physical dict gives back the same values."""
    schema = ALL_SCHEMAS[kind]
    # Irregular fractions so that no value sits on a range end or the midpoint.
    values = {a.name: a.low + ((0.137 + 0.291 * i) % 1.0) * (a.high - a.low)
              for i, a in enumerate(schema.attributes)}
    vec = schema.to_tensor(values)
    assert vec.shape == (schema.dim,) and vec.dtype == torch.float32
    back = schema.to_dict(vec)
    assert list(back) == schema.names
    for name, v in values.items():
        assert back[name] == pytest.approx(v, abs=1e-5), name


def test_batch_round_trip_and_shape():
    """A list of dicts gives a ``(n, dim)`` tensor and ``to_dict`` gives a list back."""
    rows = [{"yaw": -12.5, "smile": 0.3}, {"pitch": 33.0, "skin_tone": 0.9}]
    vec = S.to_tensor(rows)
    assert vec.shape == (2, S.dim)
    back = S.to_dict(vec)
    assert isinstance(back, list) and len(back) == 2
    for row, got in zip(rows, back, strict=True):
        for name, v in row.items():
            assert got[name] == pytest.approx(v, abs=1e-5)


@pytest.mark.parametrize("kind", list(ALL_SCHEMAS))
def test_normalised_range_and_end_points(kind):
    """Values stay in [-1, 1]; low maps to -1, high to +1 and the midpoint to 0."""
    schema = ALL_SCHEMAS[kind]
    for t in (0.0, 0.2, 0.5, 0.9, 1.0):
        vec = schema.to_tensor(_midway(schema, t))
        assert vec.min() >= -1.0 and vec.max() <= 1.0
        assert torch.allclose(vec, torch.full_like(vec, 2 * t - 1), atol=1e-6), t
    for a in schema.attributes:
        i = schema.index(a.name)
        assert schema.to_tensor({a.name: a.low})[i].item() == pytest.approx(-1.0, abs=1e-7)
        assert schema.to_tensor({a.name: a.high})[i].item() == pytest.approx(1.0, abs=1e-7)


def test_defaults_fill_missing_attributes():
    """Attributes left out of the dict take their documented defaults."""
    vec = S.to_tensor({"yaw": 30.0})
    back = S.to_dict(vec)
    assert back["yaw"] == pytest.approx(30.0)
    for a in S.attributes:
        if a.name != "yaw":
            assert back[a.name] == pytest.approx(a.default, abs=1e-6), a.name
    # A few defaults spelled out, so that a silently changed default is caught here.
    empty = S.to_tensor({})
    assert empty[S.index("eyes_open")].item() == pytest.approx(0.3, abs=1e-6)  # 0.65 in [0, 1]
    assert empty[S.index("yaw")].item() == 0.0
    assert empty[S.index("head_width")].item() == 0.0  # slider 0.5
    assert S.defaults() == {a.name: a.default for a in S.attributes}


# ---- validation ------------------------------------------------------------------------
def test_out_of_range_names_attribute_and_range():
    """An out-of-range value raises AttributeRangeError naming the attribute and its range."""
    with pytest.raises(AttributeRangeError) as err:
        S.to_tensor({"yaw": 75.0})
    msg = str(err.value)
    assert "yaw" in msg and "75" in msg and "[-60, 60]" in msg
    with pytest.raises(AttributeRangeError, match=r"skin_tone.*\[0, 1\]"):
        S.validate({"skin_tone": -0.01})
    with pytest.raises(AttributeRangeError, match=r"mouth_open"):
        S.to_tensor([{"smile": 0.5}, {"mouth_open": 1.5}])


def test_values_on_the_range_ends_are_accepted():
    """The range is closed: low and high themselves validate."""
    assert S.validate({"yaw": -60, "pitch": 40, "smile": -1}) == {
        "yaw": -60.0, "pitch": 40.0, "smile": -1.0}


def test_unknown_name_suggests_close_match():
    """An unknown name raises UnknownAttributeError with a 'did you mean' hint."""
    with pytest.raises(UnknownAttributeError, match=r"did you mean smile"):
        S.to_tensor({"smiel": 0.5})
    with pytest.raises(UnknownAttributeError, match=r"did you mean.*eye_size"):
        S.index("eye_sise")
    with pytest.raises(UnknownAttributeError) as err:
        S.validate({"zzzz": 1.0})
    assert "did you mean" not in str(err.value)
    assert "smile" in str(err.value)  # the message lists the known names
    assert "smiel" not in S and "smile" in S


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_rejected(bad):
    """NaN and infinities are refused, not silently clamped or propagated."""
    with pytest.raises(AttributeRangeError, match="smile"):
        S.to_tensor({"smile": bad})


def test_errors_are_value_errors():
    """All schema errors are ValueErrors, so a CLI can report them plainly."""
    for exc in (UnknownAttributeError, AttributeRangeError, SchemaMismatchError):
        assert issubclass(exc, AttributeValueError) and issubclass(exc, ValueError)


# ---- serialisation and compatibility ---------------------------------------------------
@pytest.mark.parametrize("kind", list(ALL_SCHEMAS))
def test_json_round_trip(kind):
    """to_json -> (real JSON text) -> from_json gives an equal, compatible schema."""
    schema = ALL_SCHEMAS[kind]
    text = json.dumps(schema.to_json())
    rebuilt = AttributeSchema.from_json(json.loads(text))
    assert rebuilt == schema
    assert rebuilt.names == schema.names and rebuilt.dim == schema.dim
    schema.check_compatible(rebuilt)
    rebuilt.check_compatible(schema)
    assert AttributeSchema.from_json(schema.dumps()) == schema  # from a string too


def test_modified_version_is_refused():
    """A checkpoint written by another schema version is refused with SchemaMismatchError."""
    data = S.to_json()
    data["version"] = "0.9"
    with pytest.raises(SchemaMismatchError, match="0.9"):
        AttributeSchema.from_json(data)
    other = AttributeSchema(identity_kind="synthfaces", identity=S.identity, version="2.0")
    with pytest.raises(SchemaMismatchError, match="version"):
        S.check_compatible(other)
    assert SCHEMA_VERSION == S.version


def test_different_layouts_are_refused():
    """Another order, another attribute set, another kind or another range all mismatch."""
    reordered = AttributeSchema(identity_kind="synthfaces", identity=S.identity[::-1])
    with pytest.raises(SchemaMismatchError, match="layouts differ"):
        S.check_compatible(reordered)
    shorter = AttributeSchema(identity_kind="synthfaces", identity=S.identity[:-1])
    with pytest.raises(SchemaMismatchError, match="ear_size"):
        S.check_compatible(shorter)
    with pytest.raises(SchemaMismatchError, match="identity kinds"):
        S.check_compatible(learned_identity_schema(["ann"]))
    data = S.to_json()
    data["attributes"][S.index("yaw")]["high"] = 90.0
    with pytest.raises(SchemaMismatchError, match="yaw"):
        S.check_compatible(AttributeSchema.from_json(data))
    with pytest.raises(SchemaMismatchError, match=str(S.dim)):
        S.to_dict(torch.zeros(S.dim + 1))


# ---- blocks ----------------------------------------------------------------------------
def test_with_identity_replaces_only_identity_block():
    """with_identity swaps the identity block and leaves pose, expression and input alone."""
    a = S.to_tensor([{"yaw": 20.0, "smile": 0.7, "skin_tone": 0.1},
                     {"pitch": -10.0, "brow_raise": -0.5, "beard": 0.9}])
    b = S.to_tensor([{"skin_tone": 0.95, "yaw": -50.0}, {"beard": 0.0, "pitch": 35.0}])
    a_before = a.clone()
    swapped = S.with_identity(a, b[:, S.identity_slice])
    assert torch.equal(a, a_before)  # the input is not modified
    assert torch.equal(swapped[:, S.identity_slice], b[:, S.identity_slice])
    assert torch.equal(swapped[:, S.pose_slice], a[:, S.pose_slice])
    assert torch.equal(swapped[:, S.expression_slice], a[:, S.expression_slice])
    assert not torch.equal(swapped, a)


@pytest.mark.parametrize("kind", list(ALL_SCHEMAS))
def test_slices_partition_vector_in_order(kind):
    """identity | pose | expression slices tile [0, dim) in that order, matching the names."""
    schema = ALL_SCHEMAS[kind]
    ids, pose, expr = schema.identity_slice, schema.pose_slice, schema.expression_slice
    assert ids.start == 0 and ids.stop == pose.start
    assert pose.stop == expr.start and expr.stop == schema.dim
    assert schema.names[pose] == ["yaw", "pitch", "roll"]
    assert schema.names[expr] == ["smile", "mouth_open", "eyes_open", "brow_raise"]
    groups = [a.group for a in schema.attributes]
    assert set(groups[ids]) == {"identity"}
    for g in ("identity", "pose", "expression"):
        assert schema.group_slice(g) == {"identity": ids, "pose": pose, "expression": expr}[g]
    vec = torch.arange(float(schema.dim)).repeat(2, 1)
    i, p, e = schema.split(vec)
    assert (i.shape[-1], p.shape[-1], e.shape[-1]) == (len(schema.identity), 3, 4)
    assert torch.equal(schema.join(i, p, e), vec)


def test_learned_identity_schema():
    """One [0, 1] weight per person (default 0) before the shared pose/expression blocks."""
    schema = learned_identity_schema(["ann", "bob", "cy"])
    assert schema.identity_kind == "learned"
    assert schema.dim == 3 + 3 + 4
    assert schema.names[schema.identity_slice] == ["person:ann", "person:bob", "person:cy"]
    for a in schema.identity:
        assert (a.low, a.high, a.default, a.group) == (0.0, 1.0, 0.0, "identity")
    one_hot = schema.to_tensor({"person:bob": 1.0})[schema.identity_slice]
    assert one_hot.tolist() == [-1.0, 1.0, -1.0]
    with pytest.raises(ValueError):
        learned_identity_schema([])


@pytest.mark.parametrize("dim", [128, 16])
def test_face_recognition_schema(dim):
    """``dim`` embedding components in [-1, 1] (identity in normalised form) + pose/expr."""
    schema = face_recognition_schema(dim)
    assert schema.identity_kind == "face_recognition"
    assert len(schema.identity) == dim and schema.dim == dim + 7
    for a in schema.identity:
        assert (a.low, a.high, a.default, a.group) == (-1.0, 1.0, 0.0, "identity")
    assert schema.identity[0].name == "embedding:000"
    emb = torch.linspace(-1, 1, dim)
    vec = schema.to_tensor({f"embedding:{i:03d}": float(v) for i, v in enumerate(emb)})
    assert torch.allclose(vec[schema.identity_slice], emb, atol=1e-6)


def test_synthfaces_schema_layout():
    """The SynthFaces schema: 15 identity sliders in [0, 1] + 3 pose + 4 expression."""
    assert synthfaces_schema() is S
    assert S.identity_kind == "synthfaces"
    assert S.dim == 15 + 3 + 4
    assert all((a.low, a.high, a.default) == (0.0, 1.0, 0.5) for a in S.identity)
    assert S["yaw"].unit == "deg" and (S["yaw"].low, S["yaw"].high) == (-60.0, 60.0)
    assert len(set(S.names)) == S.dim
