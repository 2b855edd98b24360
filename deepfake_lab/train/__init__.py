"""Training: the shared Trainer and one recipe (data + ``training_step``) per architecture."""

from __future__ import annotations

from .trainer import Recipe, Trainer, TrainingDiverged

ARCHITECTURES = ("two-decoder", "cvae", "cgan")


def make_recipe(arch: str, *, size: int = 64, batch: int | None = None, lr: float | None = None,
                seed: int = 0, people: tuple[str, ...] = ("ada", "boris"),
                init_from: str | None = None, facesets: tuple[str, ...] = (),
                reader: str | None = None, w_read: float | None = None,
                read_identity: float | None = None, read_expression: float | None = None,
                code_critic: float | None = None,
                anchor: float | None = None, anchor_blur: float | None = None,
                anchor_release: float | None = None, rec_focus: float | None = None,
                focus_on: str | None = None, rec_blur: float | None = None,
                counterfactual: float | None = None, frame_focus: float | None = None,
                adversarial: float | None = None,
                d_warmup: int | None = None,
                detail_critic: float | None = None, ema: float | None = None) -> Recipe:
    """The training recipe of ``arch`` with the CLI's knobs; defaults are the bundled recipes.

    ``facesets`` (bundled sample names or folders) switches to real faces: the two-decoder
    model's people are then those facesets, the CVAE learns one identity per faceset.
    ``reader`` / ``w_read`` (SynthFaces only): the attribute-reader loss of :mod:`.reader`
    - on the CVAE's reconstructions, on the cGAN's and the pair's swaps (a reader given
    without a weight gets 0.2, the first stage of the bundled CVAE's polish);
    ``read_identity`` / ``read_expression`` weigh its identity and expression numbers
    (defaults 1 and 3, the judge's training weights; pose weighs 3).
    ``code_critic``: the two-decoder model's code-critic weight (``w_code``; 0 turns it off).
    ``anchor`` / ``anchor_blur``: the cGAN's low-frequency anchor to the CVAE of ``init_from``
    (``w_anchor``, ``anchor_blur``; see :mod:`.cgan`); ``anchor_release`` lets it go where
    expressions show, ``rec_focus`` weighs the reconstruction up there; ``focus_on`` names the
    expressions (comma-separated; default all); ``rec_blur`` compares that extra weight's
    images blurred (a Gaussian's sigma, px).  ``counterfactual``: the weight of the cGAN's
    counterfactual loss (``w_cf``): the frame re-rendered with one of those expressions
    redrawn, and the generator's change asked to be the renderer's.  ``frame_focus``: the
    reconstruction weighed up on the pixels where that redraw changes each frame (instead of
    ``rec_focus``'s map over all faces).  ``adversarial``: the
    cGAN's weight of the game (``w_adv``; 0 drops its critics: a polish of a trained cGAN by
    anchor, reconstruction and reader alone); ``d_warmup``: its first steps train only the
    critics.
    ``detail_critic``: the cGAN's detail-critic weight (``w_detail``; 0 turns it off).
    ``ema``: the decay of the cGAN's generator weight average, which its saved model
    generates with (0 turns it off; see :mod:`.ema`).
    """
    from dataclasses import replace

    for flag, w in (("--read-identity", read_identity), ("--read-expression", read_expression)):
        if w is not None and not reader:
            raise ValueError(f"{flag} weighs the reader's loss; it needs --reader")
        if w is not None and w < 0:
            raise ValueError(f"{flag} is a weight, >= 0, got {w}")
    if code_critic is not None and arch != "two-decoder":
        raise ValueError("--code-critic is for --arch two-decoder (the shared encoder's code)")
    if (anchor is not None or anchor_blur is not None) and arch != "cgan":
        raise ValueError("--anchor is for --arch cgan (it anchors the GAN's swaps to a CVAE's)")
    if detail_critic is not None and arch != "cgan":
        raise ValueError("--detail-critic is for --arch cgan (it judges the GAN's fine detail)")
    if detail_critic is not None and detail_critic < 0:
        raise ValueError(f"--detail-critic is a weight, >= 0, got {detail_critic}")
    if ema is not None and arch != "cgan":
        raise ValueError("--ema is for --arch cgan (it averages the GAN generator's weights)")
    if ema is not None and not (ema == 0 or 0 < ema < 1):
        raise ValueError(f"--ema is a decay in (0, 1), or 0 for none, got {ema}")
    if anchor_release is not None and not anchor:
        raise ValueError("--anchor-release loosens the anchor; it needs --anchor W")
    if anchor_release is not None and not 0 <= anchor_release <= 1:
        raise ValueError(f"--anchor-release is a fraction in [0, 1], got {anchor_release}")
    if rec_focus is not None and arch != "cgan":
        raise ValueError("--rec-focus is for --arch cgan (its reconstruction loss)")
    if rec_focus is not None and rec_focus < 0:
        raise ValueError(f"--rec-focus is a weight, >= 0, got {rec_focus}")
    if rec_blur is not None and not rec_focus:
        raise ValueError("--rec-blur blurs what --rec-focus weighs up; it needs --rec-focus K")
    if rec_blur is not None and not 0 < rec_blur <= 8:
        raise ValueError(f"--rec-blur is a Gaussian's sigma in px, in (0, 8], got {rec_blur}")
    if counterfactual is not None and arch != "cgan":
        raise ValueError("--counterfactual is for --arch cgan (its reconstructions)")
    if counterfactual is not None and counterfactual < 0:
        raise ValueError(f"--counterfactual is a weight, >= 0, got {counterfactual}")
    if frame_focus is not None and arch != "cgan":
        raise ValueError("--frame-focus is for --arch cgan (its reconstruction loss)")
    if frame_focus is not None and frame_focus < 0:
        raise ValueError(f"--frame-focus is a weight, >= 0, got {frame_focus}")
    if frame_focus and rec_focus:
        raise ValueError("--frame-focus weighs up each frame's own expression pixels instead "
                         "of --rec-focus's map over all faces: give one of them")
    if focus_on is not None and not (anchor_release or rec_focus or counterfactual
                                     or frame_focus):
        raise ValueError("--focus-on says where --anchor-release and --rec-focus act and what "
                         "--counterfactual and --frame-focus redraw; it needs one of them")
    if (adversarial is not None or d_warmup is not None) and arch != "cgan":
        raise ValueError("--adversarial and --d-warmup are for --arch cgan (its critics)")
    if adversarial is not None and adversarial < 0:
        raise ValueError(f"--adversarial is a weight, >= 0, got {adversarial}")
    if d_warmup is not None and d_warmup < 0:
        raise ValueError(f"--d-warmup is a number of steps, >= 0, got {d_warmup}")
    if d_warmup and adversarial == 0:
        raise ValueError("--d-warmup trains the critics first; with --adversarial 0 there "
                         "are none")
    if anchor_blur is not None and not anchor:
        raise ValueError("--anchor-blur sets the anchor's blur; it needs --anchor W")
    if anchor_blur is not None and not 0 < anchor_blur <= 8:
        raise ValueError(f"--anchor-blur is a Gaussian's sigma in px, in (0, 8], got "
                         f"{anchor_blur}")
    read = {"reader": reader, "w_read": 0.2 if reader and w_read is None else w_read,
            "read_identity": read_identity, "read_expression": read_expression}
    if arch == "cvae":
        from ..models.cvae import CVAEConfig
        from .cvae import CVAERecipe, CVAETraining
        hp = replace(CVAERecipe(seed=seed), **_given(batch=batch, lr=lr, **read))
        return CVAETraining(CVAEConfig(size=size), hp, facesets=facesets)
    if arch == "cgan":
        if facesets:
            raise ValueError("the cGAN trains on SynthFaces only; train a CVAE on facesets")
        from ..models.cgan import CGANConfig
        from .cgan import CGANRecipe, CGANTraining
        hp = replace(CGANRecipe(seed=seed, init_from=init_from),
                     **_given(batch=batch, lr_g=lr, lr_d=None if lr is None else 2 * lr,
                              w_anchor=anchor, anchor_blur=anchor_blur,
                              anchor_release=anchor_release, rec_focus=rec_focus,
                              focus_on=focus_on, rec_blur=rec_blur, w_cf=counterfactual,
                              frame_focus=frame_focus,
                              w_adv=adversarial,
                              d_warmup=d_warmup,
                              w_detail=detail_critic, ema=ema, **read))
        return CGANTraining(None if init_from else CGANConfig(size=size), hp)
    if arch == "two-decoder":
        from ..models.two_decoder import TwoDecoderConfig
        from .two_decoder import TwoDecoderRecipe, TwoDecoderTraining
        hp = replace(TwoDecoderRecipe(seed=seed), **_given(batch=batch, lr=lr, w_code=code_critic,
                                                           **read))
        people = facesets or people
        return TwoDecoderTraining(TwoDecoderConfig(people=tuple(people), size=size), hp,
                                  facesets=bool(facesets))
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def _given(**kw):
    return {k: v for k, v in kw.items() if v is not None}


__all__ = ["ARCHITECTURES", "Recipe", "Trainer", "TrainingDiverged", "make_recipe"]
