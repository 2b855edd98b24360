"""The model commands of the CLI: ``train``, ``models``, ``generate``, ``eval``, ``verify``,
``plot``.

Kept apart from :mod:`deepfake_lab.cli` so that ``render`` and ``schema`` start without
importing the models.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .checkpoints import CheckpointError
from .cli import SCHEMA, _attribute_values, _identity_arg


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .train import Trainer, TrainingDiverged, make_recipe
    from .train.trainer import distributed_context, stop_on_interrupt

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.arch != "cgan" and args.init_from:
        parser.error("--init-from is for --arch cgan (a CVAE or cGAN checkpoint)")
    people = tuple(p.strip() for p in args.people.split(",") if p.strip())
    facesets = () if args.data == "synthfaces" else tuple(
        p.strip() for p in args.data.split(",") if p.strip())
    if facesets and args.arch == "cgan":
        parser.error("--arch cgan trains on synthfaces only; for real faces train a cvae")
    if facesets and args.arch == "two-decoder":
        if len(facesets) != 2:
            parser.error(f"a two-decoder model on real faces needs exactly two facesets "
                         f"(one per person), got {len(facesets)}: {args.data}")
        people = facesets
    if args.arch == "two-decoder" and len(people) < 2:
        parser.error("--people needs at least two names, e.g. ada,boris")
    out = Path(args.out or f"runs/{args.arch}")
    if args.eval_every < 0:
        parser.error(f"--eval-every must be >= 0, got {args.eval_every}")
    state = out / "state.json"
    if state.exists() and not args.resume:
        parser.error(f"{out} already holds a run; add --resume to continue it or choose "
                     "another --out")
    distributed_context()
    try:
        recipe = make_recipe(args.arch, size=args.size, batch=args.batch, lr=args.lr,
                             seed=args.seed, people=people, init_from=args.init_from,
                             facesets=facesets, reader=args.reader, w_read=args.w_read,
                             read_identity=args.read_identity,
                             read_expression=args.read_expression, code_critic=args.code_critic,
                             anchor=args.anchor, anchor_blur=args.anchor_blur,
                             anchor_release=args.anchor_release, rec_focus=args.rec_focus,
                             focus_on=args.focus_on, rec_blur=args.rec_blur,
                             counterfactual=args.counterfactual,
                             frame_focus=args.frame_focus,
                             adversarial=args.adversarial,
                             d_warmup=args.d_warmup,
                             detail_critic=args.detail_critic, ema=args.ema)
        callbacks = _train_callbacks(args)
        trainer = Trainer(recipe, out, steps=args.steps, save_every=args.save_every,
                          sample_every=args.sample_every, keep_every=args.keep_every,
                          device=args.device,
                          progress=not args.no_progress, callbacks=callbacks)
        if args.resume and trainer.resume():
            if trainer.is_main:
                print(f"resumed {out} at step {trainer.step}")
        elif args.continue_from:
            fresh = trainer.continue_from(args.continue_from)
            if trainer.step >= args.steps:
                parser.error(f"{args.continue_from} is already at step {trainer.step}; ask "
                             f"for more --steps (the total to reach)")
            if trainer.is_main:
                print(f"continuing from {args.continue_from} at step {trainer.step}"
                      + (f" ({len(fresh)} discriminator tensors start afresh)" if fresh else ""))
        with stop_on_interrupt(trainer):
            trainer.fit()
    except (CheckpointError, ValueError, RuntimeError) as e:
        if isinstance(e, TrainingDiverged):
            raise SystemExit(f"error: {e}") from None
        parser.error(str(e))
    if trainer.is_main:
        for note in filter(None, (getattr(cb, "note", None) for cb in callbacks)):
            print(f"note: {note}")
        print(f"wrote {out / 'model.safetensors'} (step {trainer.step})")
    return 0


def _train_callbacks(args: argparse.Namespace) -> list:
    """The callbacks ``train`` asks for: swap metrics every N steps, a CSV copy of the log."""
    from .train.callbacks import CSVLogger, SwapEval, TimeLimit

    callbacks: list = []
    if args.max_minutes is not None:  # TimeLimit refuses <= 0 (a clear usage error)
        callbacks.append(TimeLimit(args.max_minutes))
    if args.eval_every:
        callbacks.append(SwapEval(every=args.eval_every))
    if args.csv:
        callbacks.append(CSVLogger())
    return callbacks


def cmd_plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Draw a run's learning curves to PNG."""
    from .train.curves import plot_run

    keys = [k.strip() for k in args.keys.split(",") if k.strip()] if args.keys else None
    try:
        path = plot_run(args.run, args.output, keys)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    print(f"wrote {path}")
    return 0


def cmd_models(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .registry import list_models

    rows = list_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no bundled models found")
    for r in rows:
        who = f" people={','.join(r['people'])}" if r.get("people") else ""
        print(f"{r['name']:28s} {r['architecture']:12s} {r['size']:4d} px  "
              f"{r['megabytes']:5.1f} MB  step {r['step']}{who}")
    return 0


def _source_face(args, parser, model, values) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image (1, 3, S, S), attributes (1, dim))`` of the source face."""
    from .data.synthfaces import identity_vector
    from .images import from_uint8

    # Start from the chosen person; attribute flags override single sliders.
    a = SCHEMA.to_tensor({**{n: SCHEMA[n].default for n in SCHEMA.names}, **values})[None]
    ident = identity_vector(_identity_arg(args.identity)).clone()
    for k, name in enumerate(SCHEMA.names[SCHEMA.identity_slice]):
        if name in values:
            ident[k] = a[0, SCHEMA.index(name)]
    a = SCHEMA.with_identity(a, ident[None])
    if args.source:
        import numpy as np
        from PIL import Image, UnidentifiedImageError
        try:
            img = Image.open(args.source).convert("RGB").resize((model.size, model.size),
                                                                Image.LANCZOS)
        except (OSError, UnidentifiedImageError) as e:
            parser.error(f"cannot read --source {args.source}: {e}")
        return from_uint8(np.asarray(img))[None], a
    return _truth(a, args, model.size), a


def cmd_generate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import numpy as np
    import torch.nn.functional as F

    from .data.synthfaces import identity_vector
    from .images import make_grid, to_uint8
    from .provenance import save_generated_png
    from .registry import load_model

    values = _attribute_values(args, parser)
    try:
        model = load_model(args.model)
    except (CheckpointError, ValueError) as e:
        parser.error(str(e))
    if model.architecture == "two-decoder" and not args.swap_to:
        parser.error(f"a two-decoder model only swaps: add --swap-to "
                     f"{{{','.join(model.people)}}}")
    x, a = _source_face(args, parser, model, values)
    truth = None
    try:
        if model.architecture == "two-decoder":
            out = model.swap(x, to=args.swap_to)
            if args.source is None:
                k = model.people.index(args.swap_to) if args.swap_to in model.people else None
                if k is not None:
                    tgt = torch.tensor(model.config["people_identities"][k])
                    truth = _truth(SCHEMA.with_identity(a, tgt[None]), args, model.size)
        elif args.swap_to:
            a_t = SCHEMA.with_identity(a, identity_vector(_identity_arg(args.swap_to))[None])
            out = model.swap(x, a, a_t)
            truth = None if args.source else _truth(a_t, args, model.size)
        else:
            out = model.generate(a)
            truth = _truth(a, args, model.size)
    except (KeyError, ValueError) as e:
        parser.error(str(e).strip("\"'"))
    images = [out.cpu()]
    if args.sheet:
        images = [x] + images + ([truth] if truth is not None else [])
    up = [F.interpolate(i, size=(args.size, args.size), mode="bicubic",
                        align_corners=False).clamp(-1, 1) for i in images]
    sheet = make_grid(torch.cat(up), len(up), padding=4) if len(up) > 1 else up[0][0]
    arr = np.ascontiguousarray(to_uint8(sheet))
    path = save_generated_png(arr, args.output, model.name, label=not args.dev_unmarked,
                              watermark=not args.dev_unmarked,
                              extra={"architecture": model.architecture})
    print(f"wrote {path}")
    return 0


def _truth(a: torch.Tensor, args, size: int) -> torch.Tensor:
    """The SynthFaces render of ``a`` in the command's scene (source or ground truth)."""
    from .data.synth_datasets import draw_scene
    from .data.synthfaces import render
    return render(a, size=size, scene=draw_scene(args.scene, 1,
                                                  torch.Generator().manual_seed(args.seed)))


def cmd_eval(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .eval.judges import load_judge
    from .eval.swap_eval import evaluate_model, trusted
    from .registry import load_model

    try:
        model = load_model(args.model)
        real = isinstance(model.config.get("data"), dict)
        judge = None if real else load_judge(args.judge)
    except (CheckpointError, ValueError) as e:
        parser.error(str(e))
    if real:  # a real-face model: no ground truth, the dlib face pipeline judges
        return _eval_real(model, args)
    report = evaluate_model(model, judge, n=args.n, seed=args.seed, progress=not args.json)
    report["judge_trusted"] = trusted(report)
    if args.json:
        print(json.dumps(report))
        return 0
    gt = report["ground_truth"]
    print(f"{report['model']} ({report['architecture']}), {report['n_swaps']} held-out swaps")
    for k in ("id_retrieval", "pose_mae_deg", "expr_mae"):
        print(f"  {k:16s} {report[k]:>9}   (judge on ground truth: {gt[k]})")
    by = ", ".join(f"{name} {v['mae']} ({v['bias']:+})"
                   for name, v in report["expr_by_attribute"].items())
    print(f"    by attribute: {by}   (MAE, signed mean)")
    for k in ("psnr", "psnr_face", "ssim", "sharpness_ratio", "kid"):
        print(f"  {k:16s} {report[k]:>9}")
    if not report["judge_trusted"]:
        print("  warning: the judge misses its own bars on ground truth; "
              "treat these figures with care")
    return 0


def _eval_real(model, args: argparse.Namespace) -> int:
    from .eval.real_eval import evaluate_real_model

    report = {"architecture": model.architecture,
              **evaluate_real_model(model, progress=not args.json)}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['model']} ({report['architecture']}, real faces "
          f"{', '.join(report['people'])}): {report['n_swaps']} swaps of held-out frames, "
          f"{report['n_scored']} scored (face found in source and output)")
    print(f"  id_closer        {report['id_closer']:>9} %  (dlib embedding nearer the target "
          "than the source)")
    print(f"  pose_mae_deg     {report['pose_mae_deg']:>9}    (output vs driving frame)")
    print(f"  expr_mae         {report['expr_mae']:>9}")
    print(f"  found            {report['found']:>9} %  (outputs with a detectable face)")
    return 0


def cmd_verify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .provenance import verify

    try:
        report = verify(args.file)
    except ValueError as e:
        parser.error(str(e))
    if args.json:
        print(json.dumps(report))
        return 0
    meta = report["metadata"]
    video = report.get("kind") == "video"

    def found(value, extra: str = "") -> str:
        return {True: "found" + extra, False: "not found", None: "cannot tell (too small)"}[value]

    print(f"{args.file}:")
    frames = (f" on {report['label_frames']:.0%} of {report['frames_checked']} frames"
              if video and report["label_frames"] is not None else "")
    print(f"  visible label   {found(report['label'], frames)}")
    payload = f" (payload {report['payload']})" if report["payload"] else ""
    if video and report["payload_fields"]:
        f = report["payload_fields"]
        payload += (f": {f['project']}, model {f['model_fingerprint']}, content "
                    f"{f['content_fingerprint']}")
        if report["matches_metadata"] is not None:
            payload += ("; matches the metadata" if report["matches_metadata"]
                        else "; does NOT match the metadata")
    print(f"  watermark       {found(report['watermark'], payload)}")
    print(f"  metadata        ai_generated={meta.get('ai_generated', 'absent')}, "
          f"model={meta.get('model', 'absent')}")
    return 0
