"""deepfake-lab: a teaching-first lab for face swapping.

The public API in one import::

    import deepfake_lab as dl
    schema = dl.SYNTHFACES_SCHEMA              # names, ranges, order of every attribute
    img = dl.render_one("boris", yaw=30, smile=0.8)   # (3, 128, 128) in [-1, 1]
    model = dl.load_model("cvae-synthfaces-64")       # a bundled model (dl.list_models())
"""

__version__ = "0.1.0"

from .attributes import (  # noqa: E402
    SCHEMA_VERSION,
    SYNTHFACES_SCHEMA,
    Attribute,
    AttributeRangeError,
    AttributeSchema,
    AttributeValueError,
    SchemaMismatchError,
    UnknownAttributeError,
    face_recognition_schema,
    learned_identity_schema,
    synthfaces_schema,
)
from .data.synth_datasets import (  # noqa: E402
    SynthFacesDataset,
    SynthFacesStream,
    split_identities,
    swap_pairs,
)
from .data.synthfaces import (  # noqa: E402
    Scene,
    catalogue_identity,
    catalogue_names,
    render,
    render_grid,
    render_one,
    sample_attributes,
    sample_identities,
)
from .device import pick_device, seed_everything  # noqa: E402
from .images import from_uint8, save_image, to_uint8  # noqa: E402
from .registry import list_models, load_model  # noqa: E402

__all__ = [
    "SCHEMA_VERSION", "SYNTHFACES_SCHEMA", "Attribute", "AttributeRangeError", "AttributeSchema",
    "AttributeValueError", "SchemaMismatchError", "UnknownAttributeError",
    "face_recognition_schema", "learned_identity_schema", "synthfaces_schema",
    "SynthFacesDataset", "SynthFacesStream", "split_identities", "swap_pairs",
    "Scene", "catalogue_identity", "catalogue_names", "render", "render_grid", "render_one",
    "sample_attributes", "sample_identities", "pick_device", "seed_everything",
    "from_uint8", "save_image", "to_uint8", "list_models", "load_model",
]
