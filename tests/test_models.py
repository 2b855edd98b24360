"""The three architectures: shapes, checkpoints (safetensors + JSON), refusing bad files."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from deepfake_lab.attributes import SchemaMismatchError, learned_identity_schema
from deepfake_lab.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.models import CGAN, CVAE, CGANConfig, CVAEConfig, TwoDecoder, TwoDecoderConfig
from deepfake_lab.models.blocks import FiLM, count_parameters
from deepfake_lab.registry import load_model


@pytest.mark.parametrize("size", [64, 128])
def test_shapes_and_sizes(size: int) -> None:
    x, a = torch.rand(2, 3, size, size) * 2 - 1, torch.rand(2, SCHEMA.dim) * 2 - 1
    cvae = CVAE(CVAEConfig(size=size))
    x_hat, mu, logvar = cvae(x, a)
    assert x_hat.shape == x.shape and mu.shape == logvar.shape == (2, 16)
    assert x_hat.abs().max() <= 1
    gan = CGAN(CGANConfig(size=size))
    fake = gan.generator(gan.sample_z(2), a)
    logit, a_hat = gan.discriminator(fake, a)
    assert fake.shape == x.shape and logit.shape == (2,) and a_hat.shape == a.shape
    assert gan.swap(x, a, a).shape == x.shape
    two = TwoDecoder(TwoDecoderConfig(size=size))
    ra, rb = two(x, x)
    assert ra.shape == rb.shape == x.shape
    assert two.swap(x, "b").shape == x.shape
    # "A few M parameters": every model trains on a CPU.
    for m in (cvae, gan.generator, gan.discriminator, two):
        assert 0.5e6 < count_parameters(m) < 6e6


def test_film_starts_as_identity_and_conditions() -> None:
    film = FiLM(4, 8)
    h = torch.randn(3, 8, 5, 5)
    assert torch.equal(film(h, torch.randn(3, 4)), h)
    torch.nn.init.normal_(film.to_gb.weight)
    c = torch.randn(3, 4)
    out = film(h, c)
    assert not torch.allclose(out, h)
    assert not torch.allclose(film(h, c + 1), out)


def test_two_decoder_swap_uses_the_other_decoder() -> None:
    torch.manual_seed(0)
    two = TwoDecoder(TwoDecoderConfig(people=("ada", "boris")))
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert not torch.allclose(two.swap(x, "ada"), two.swap(x, "boris"))
    with pytest.raises(ValueError, match="knows"):
        two.swap(x, "chen")


def test_cvae_swap_changes_only_through_attributes() -> None:
    torch.manual_seed(0)
    cvae = CVAE().eval()
    x, a = torch.rand(2, 3, 64, 64) * 2 - 1, torch.zeros(2, SCHEMA.dim)
    mu, _ = cvae.encode(x, a)
    torch.testing.assert_close(cvae.swap(x, a, a), cvae.decode(mu, a))


def _saved(tmp_path, model, arch, cfg):
    save_checkpoint(tmp_path / "m", model.state_dict(),
                    {"kind": "model", "architecture": arch, "model": cfg.to_dict(),
                     "schema": SCHEMA.to_json()})
    return tmp_path / "m"


@pytest.mark.parametrize("arch", ["cvae", "cgan", "two-decoder"])
def test_save_load_bit_exact(arch: str, tmp_path) -> None:
    cls, cfg = {"cvae": (CVAE, CVAEConfig()), "cgan": (CGAN, CGANConfig()),
                "two-decoder": (TwoDecoder, TwoDecoderConfig())}[arch]
    torch.manual_seed(1)
    model = cls(cfg)
    loaded = load_model(_saved(tmp_path, model, arch, cfg))
    assert loaded.architecture == arch
    a, b = model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pickles_are_refused(tmp_path) -> None:
    bad = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_checkpoint(bad)
    # A pickle renamed to .safetensors is caught by its magic bytes.
    disguised = tmp_path / "m.safetensors"
    disguised.write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "m.json").write_text(json.dumps({"format": "deepfake-lab-checkpoint/1",
                                                 "kind": "model"}))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(tmp_path / "m")


def test_a_safetensors_file_that_opens_with_a_pickles_byte_loads(tmp_path) -> None:
    """A safetensors file opens with its header's length; when that length's low byte is
    0x80 (one header size in 32: they are padded to multiples of 8), it is still a
    safetensors file, not a pickle."""
    for n in range(1, 200):   # a tensor name of n letters moves the header length
        st = save_checkpoint(tmp_path / f"m{n}", {"w" * n: torch.ones(2)}, {"kind": "model"})
        if st.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no name length gave a header whose length ends in byte 0x80")
    tensors, cfg = load_checkpoint(tmp_path / f"m{n}", kind="model")
    assert torch.equal(tensors["w" * n], torch.ones(2)) and cfg["kind"] == "model"


def test_corrupt_missing_and_wrong_kind(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing")
    save_checkpoint(tmp_path / "j", {"w": torch.ones(2)}, {"kind": "judge"})
    with pytest.raises(CheckpointError, match="not 'model'"):
        load_checkpoint(tmp_path / "j", kind="model")
    (tmp_path / "j.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_checkpoint(tmp_path / "j")
    (tmp_path / "k.safetensors").write_bytes(b"")
    (tmp_path / "k.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path / "k")


def test_mismatched_schema_is_refused(tmp_path) -> None:
    path = _saved(tmp_path, CVAE(), "cvae", CVAEConfig())
    with pytest.raises(SchemaMismatchError):
        load_model(path, schema=learned_identity_schema(["ann", "bob"]))
    # The same schema passes.
    assert load_model(path, schema=SCHEMA).architecture == "cvae"


def test_wrong_sizes_are_refused(tmp_path) -> None:
    path = _saved(tmp_path, CVAE(CVAEConfig(latent=8)), "cvae", CVAEConfig())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(path)
    with pytest.raises(CheckpointError, match="no model"):
        load_model(tmp_path / "absent")
