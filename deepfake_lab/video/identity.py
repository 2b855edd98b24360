"""Who to swap to: an identity name -> the identity block of a model's attribute schema.

What an identity *is* depends on the schema's identity kind (:mod:`deepfake_lab.attributes`):

==================  ==============================================================
``synthfaces``      a SynthFaces catalogue name (``ada``, ``boris`` ...) or an integer
                    seed for a random person: the renderer's identity sliders
``learned``         a person the model was trained on: one-hot over ``person:NAME``
``face_recognition``  an embedding; building one from a photo is not supported here
==================  ==============================================================

A two-decoder model has no identity block at all: its "identities" are its decoders, one
per person it was trained on (:func:`check_person`).
"""

from __future__ import annotations

import torch

from ..attributes import AttributeSchema


class UnknownIdentityError(ValueError):
    """An identity the model or schema does not know (the message lists what it knows)."""


def resolve_identity(schema: AttributeSchema, spec: str | int) -> torch.Tensor:
    """The normalised identity block ``(n_identity,)`` that ``spec`` names in ``schema``."""
    text = str(spec).strip()
    if schema.identity_kind == "synthfaces":
        from ..data.synthfaces import catalogue_names, identity_vector

        try:
            return identity_vector(int(text) if text.lstrip("-").isdigit() else text)
        except (KeyError, ValueError) as e:
            raise UnknownIdentityError(
                f"unknown identity {text!r} for a SynthFaces model: choose one of "
                f"{', '.join(catalogue_names())} or an integer seed") from e
    if schema.identity_kind == "learned":
        people = [a.name.split(":", 1)[1] for a in schema.identity]
        name = text.split(":", 1)[1] if text.startswith("person:") else text
        if name not in people:
            raise UnknownIdentityError(f"unknown identity {text!r}: this model knows "
                                       f"{', '.join(people)}")
        block = torch.zeros(len(people))
        block[people.index(name)] = 1.0
        return schema.normalize(block, "identity")
    raise UnknownIdentityError(f"identities of kind {schema.identity_kind!r} (embeddings) "
                               "cannot be named on the command line yet")


def default_identity(schema: AttributeSchema) -> torch.Tensor:
    """The schema's default identity block (the 'average person'), normalised."""
    return schema.to_tensor({})[schema.identity_slice]


def check_person(people: tuple[str, ...], spec: str | int) -> str:
    """``spec`` if it is one of a two-decoder model's ``people``, else a clear error."""
    text = str(spec).strip()
    if text not in people:
        raise UnknownIdentityError(f"unknown identity {text!r}: this two-decoder model has a "
                                   f"decoder for {', '.join(people)} only")
    return text
