"""Train the codec. Resumable (checkpoint every --ckpt-every steps, atomically), logs progress as
JSON lines, runs on CPU (2 threads) or CUDA when available.

    cd models/training && /usr/bin/python3 -m sstrain.codec.train --corpus ../../data/corpus --run ../../runs/codec
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from ..audio import PackedCorpus
from ..corpus import BASE_VOICES
from ..runs import add_anneal_by_time, add_seed, minutes_since, restore_rng, rng_state, run_clock, seeded_rng, start_run, time_share
from .discriminators import Critics, critic_loss, generator_losses
from .losses import MelLoss, MultiResolutionSTFTLoss, PhaseAdvanceLoss, PhonePosteriorLoss, RecognizerFeatureLoss
from .model import Codec, CodecConfig


def lr_at(step: int, c: CodecConfig, time_done: float = 0.0) -> float:
    """Warmup, then a cosine to 5 % over the steps, or over the time budget (time_done: its share
    used, with --anneal-by-time) if that runs out first."""
    if step < c.warmup:
        return c.lr * (step + 1) / c.warmup
    p = min(1.0, max(time_done, (step - c.warmup) / max(1, c.steps - c.warmup)))
    return c.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def init_codebooks(model: Codec, data: PackedCorpus, rng: np.random.Generator, c: CodecConfig, dev: torch.device) -> None:
    """k-means on many latents (not just one batch) so every code starts in use."""
    zs = [model.encoder(data.random_crops(rng, c.batch, c.crop_frames * c.hop).to(dev)) for _ in range(c.init_batches)]
    z = torch.cat(zs).reshape(-1, c.latent)
    model.quantizer.train()
    for book in model.quantizer.books:
        book.update(z, torch.zeros(z.shape[0], dtype=torch.long, device=dev))  # first call = k-means
        z = z - book.embed[book.nearest(z)]


@torch.no_grad()
def validate(model: Codec, data: PackedCorpus, mel: MelLoss, dev: torch.device, n: int = 48) -> dict:
    model.eval()
    losses, perps = [], None
    for u in data.utts[:n]:
        a = torch.from_numpy(data.audio(u))[None]
        a = a[:, : (a.shape[1] // model.cfg.hop) * model.cfg.hop].to(dev)
        y, q = model(a, model.cfg.levels)
        losses.append(float(mel(y, a)))
    model.train()
    return {"valid_mel": float(np.mean(losses))}


class GeneratedPairs:
    """SoundStorm-generated codes of corpus utterances (sstrain.soundstorm.generate) with the real audio
    they stand for: crops of both, frame-aligned, for fine-tuning the decoder on what it will decode."""

    def __init__(self, npz: str | Path, corpus: PackedCorpus, hop: int):
        z = np.load(npz)
        by_id = {u.id: u for u in corpus.utts}
        self.corpus, self.hop = corpus, hop
        self.items = [(by_id[str(i)], z["codes"][z["offsets"][k]:z["offsets"][k + 1]].astype(np.int64))
                      for k, i in enumerate(z["ids"]) if str(i) in by_id]
        if not self.items:
            raise ValueError(f"{npz}: none of its utterances are in the corpus split")

    def random_crops(self, rng: np.random.Generator, batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """-> codes [batch, Q, frames], audio [batch, frames * hop]"""
        codes, audio = [], []
        while len(codes) < batch:
            u, c = self.items[int(rng.integers(len(self.items)))]
            if len(c) < frames:
                continue
            s = int(rng.integers(len(c) - frames + 1))
            x = np.zeros(frames * self.hop, np.float32)
            seg = self.corpus.audio(u)[s * self.hop:(s + frames) * self.hop]
            x[:len(seg)] = seg
            codes.append(c[s:s + frames].T)
            audio.append(x)
        return torch.from_numpy(np.stack(codes)), torch.from_numpy(np.stack(audio))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--run", required=True, help="directory for checkpoints and logs")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--valid-every", type=int, default=1000)
    ap.add_argument("--keep-every", type=int, default=0, help="also keep the model weights every N steps (step-N.pt)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (after a checkpoint) when this much wall time passed")
    add_anneal_by_time(ap)
    ap.add_argument("--init-from", default=None, help="start a new run from this checkpoint's weights (not its optimizer)")
    ap.add_argument("--freeze-encoder", action="store_true",
                    help="train the decoder only: the codes stay exactly as they are, so models trained on them "
                         "(SoundStorm) stay valid while the decoder improves; batches still decode a random number "
                         "of levels (--quantizer-dropout), so fewer levels still decode")
    ap.add_argument("--pairs", default=None, help="with --freeze-encoder: SoundStorm-generated codes of train utterances "
                                                   "(sstrain.soundstorm.generate) to decode into their real audio")
    ap.add_argument("--pairs-share", type=float, default=0.5, help="share of each batch taken from --pairs")
    ap.add_argument("--adversarial", action="store_true",
                    help="add period and resolution critics (least squares + feature matching; discriminators.py)")
    ap.add_argument("--adv-batch", type=int, default=6, help="batch items the critics see per step (CPU cost)")
    ap.add_argument("--adv-crop", type=int, default=8000, help="samples of each item the critics see")
    ap.add_argument("--adv-weight", type=float, default=1.0)
    ap.add_argument("--fm-weight", type=float, default=2.0)
    ap.add_argument("--d-lr", type=float, default=2e-4)
    ap.add_argument("--d-warmup", type=int, default=200, help="steps the critics train before the decoder hears them")
    ap.add_argument("--base-share", type=float, default=0.0,
                    help="share of training crops drawn from the --share-speakers' own recordings (by default the base "
                         "flite voices, not their augmented variants); 0: every utterance equally likely (each speaker "
                         "about 1/16). Not saved in the checkpoint: give it again when resuming")
    ap.add_argument("--share-speakers", default=",".join(BASE_VOICES),
                    help="comma-separated corpus speakers that --base-share draws from; one voice (e.g. slt) fine-tunes "
                         "a voice-specific decoder (model.json codec.voice_decoders)")
    ap.add_argument("--phone-net", default=None,
                    help="the phone classifier checkpoint (sstrain.semantic.train's last.ckpt) that --phone-weight's "
                         "loss (losses.PhonePosteriorLoss) listens with; needed on every resume of such a run")
    add_seed(ap)
    for f in fields(CodecConfig):
        if f.type in ("int", "float") and f.name != "dead_threshold":   # legacy, ignored
            ap.add_argument(f"--{f.name.replace('_', '-')}", type=int if f.type == "int" else float, default=None)
    a = ap.parse_args(argv)
    dev, run = start_run(a.threads, a.device, a.run)
    seeded_rng(a.seed, run, 0)   # a fresh model's initial weights follow --seed (or the run) too
    ckpt_path = run / "last.ckpt"

    # weights and config come from this run's checkpoint (resume), else from --init-from, else fresh;
    # command-line values override the config either way
    ck = torch.load(ckpt_path, map_location="cpu") if ckpt_path.exists() else None
    init = torch.load(a.init_from, map_location="cpu") if (a.init_from and ck is None) else None
    source = ck or init
    cfg = CodecConfig(**source["config"]) if source else CodecConfig()
    for f in fields(CodecConfig):
        v = getattr(a, f.name, None)
        if v is not None:
            setattr(cfg, f.name, v)
    model = Codec(cfg).to(dev)
    frozen = a.freeze_encoder or bool(ck and ck.get("frozen_encoder", False))
    params = model.decoder.parameters() if frozen else model.parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.8, 0.99), weight_decay=1e-4)
    step = 0
    if init is not None:
        missing, unexpected = model.load_state_dict(init["model"], strict=False)
        if unexpected or any(not k.startswith("decoder.up.") for k in missing):
            raise RuntimeError(f"--init-from does not fit this config: missing {missing}, unexpected {unexpected}")
        if missing:  # a decoder grown with an upsampler (--dec-upsample) from one without
            model.decoder.init_upsample_as_repeat()
            print(f"new upsampler x{cfg.dec_upsample} started as frame repeat", flush=True)
        step = init["step"]
        print(f"initialised from {a.init_from} (step {step}); frozen encoder: {frozen}", flush=True)
    if frozen:
        for m in (model.encoder, model.quantizer):
            m.requires_grad_(False)
    adversarial = a.adversarial or bool(ck and "critics" in ck)
    critics = Critics().to(dev) if adversarial else None
    opt_d = torch.optim.AdamW(critics.parameters(), lr=a.d_lr, betas=(0.8, 0.99)) if critics else None
    adv_start = step
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        if critics is not None and "critics" in ck:
            critics.load_state_dict(ck["critics"])
            opt_d.load_state_dict(ck["opt_d"])
            adv_start = ck["adv_start"]
        elif critics is not None:
            adv_start = step
        print(f"resumed from {ckpt_path} at step {step}", flush=True)
    # numpy (crops) and torch (gains, quantizer dropout, codebook restarts, k-means) generators, seeded by the
    # run: seeded by the step, every fine-tune --init-from the same checkpoint drew the same batches and crops.
    # A resume puts back the saved states (checkpoints without them resume with the seeded generators).
    rng = seeded_rng(a.seed, run, step)
    restore_rng(ck, rng)
    train = PackedCorpus(a.corpus, "train")
    valid = PackedCorpus(a.corpus, "valid")
    if not 0 <= a.base_share < 1:
        ap.error("--base-share must be in [0, 1)")
    crop_weights = train.share_weights(set(a.share_speakers.split(",")), a.base_share) if a.base_share > 0 else None
    mel, mrstft = MelLoss(cfg.sample_rate).to(dev), MultiResolutionSTFTLoss().to(dev)
    phase = PhaseAdvanceLoss().to(dev) if cfg.phase_weight > 0 else None
    asr_feat = RecognizerFeatureLoss(cfg.sample_rate).to(dev) if (cfg.asr_feature_weight > 0 or cfg.asr_stats_weight > 0) else None
    if (cfg.phone_weight > 0) != bool(a.phone_net):
        ap.error(f"--phone-net and a phone weight go together (phone weight {cfg.phone_weight}, --phone-net {a.phone_net})")
    phones = PhonePosteriorLoss(a.phone_net).to(dev) if cfg.phone_weight > 0 else None
    pairs = GeneratedPairs(a.pairs, train, cfg.hop) if (a.pairs and frozen) else None
    if pairs:
        print(f"{len(pairs.items)} generated utterances; {a.pairs_share:.0%} of each batch", flush=True)
    if step == 0 and not frozen:
        init_codebooks(model, train, rng, cfg, dev)
        print("codebooks initialised by k-means", flush=True)
    (run / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    log = open(run / "log.jsonl", "a")
    t_start = run_clock(ck)
    t_last = time.time()
    agg: dict[str, float] = {}
    model.train()
    if frozen:
        model.encoder.eval()
        model.quantizer.eval()  # no EMA updates or restarts: the codes are fixed

    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg, time_share(a, t_start))
        x = train.random_crops(rng, cfg.batch, cfg.crop_frames * cfg.hop, crop_weights).to(dev)
        x = x * torch.empty(x.shape[0], 1, device=dev).uniform_(0.5, 1.4)  # level augmentation
        if frozen:
            with torch.no_grad():
                # quantizer dropout as in the first phase: the decoder keeps decoding fewer levels (served)
                n_levels = model.quantizer.dropout_levels()
                q = model.quantizer(model.encoder(x), n_levels)
                lat = q.quantized
                if pairs:
                    k = max(1, round(cfg.batch * a.pairs_share))
                    gc, gx = pairs.random_crops(rng, k, cfg.crop_frames)
                    lat = torch.cat([lat[:cfg.batch - k], model.quantizer.decode_codes(gc[:, :n_levels].to(dev))])
                    x = torch.cat([x[:cfg.batch - k], gx.to(dev)])
            y = model.decoder(lat)
        else:
            y, q = model(x)
        l_mel = mel(y, x)
        l_stft = mrstft(y, x)
        loss = cfg.mel_weight * l_mel + cfg.stft_weight * l_stft + (0 if frozen else cfg.commit_weight * q.commit_loss)
        extra: dict[str, float] = {}
        if phase is not None:
            l_phase = phase(y, x)
            loss = loss + cfg.phase_weight * l_phase
            extra["phase"] = float(l_phase)
        if asr_feat is not None:
            l_frames, l_stats = asr_feat(y, x)
            loss = loss + cfg.asr_feature_weight * l_frames + cfg.asr_stats_weight * l_stats
            extra.update(asr_frames=float(l_frames), asr_stats=float(l_stats))
        if phones is not None:
            l_phone = phones(y, x)
            loss = loss + cfg.phone_weight * l_phone
            extra["phone"] = float(l_phone)
        if critics is not None:
            # the critics see a random sub-crop of a few items: their 2-D convs dominate a CPU step
            n = min(a.adv_batch, x.shape[0])
            s0 = int(rng.integers(max(1, x.shape[1] - a.adv_crop + 1)))
            xa, ya = x[:n, s0:s0 + a.adv_crop], y[:n, s0:s0 + a.adv_crop]
            l_d = critic_loss(critics(xa), critics(ya.detach()))
            opt_d.zero_grad(set_to_none=True)
            l_d.backward()
            opt_d.step()
            extra["d"] = float(l_d)
            if step - adv_start >= a.d_warmup:
                with torch.no_grad():
                    real = critics(xa)
                l_adv, l_fm = generator_losses(real, critics(ya))
                loss = loss + a.adv_weight * l_adv + a.fm_weight * l_fm
                extra.update(adv=float(l_adv), fm=float(l_fm))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        for k, v in (("loss", float(loss)), ("mel", float(l_mel)), ("stft", float(l_stft)), ("commit", float(q.commit_loss)),
                     ("gnorm", float(gn)), *extra.items()):
            agg[k] = agg.get(k, 0.0) + v
        agg["n"] = agg.get("n", 0) + 1
        if step % a.log_every == 0:
            rec = {k: round(v / agg["n"], 4) for k, v in agg.items() if k != "n"}
            rec.update(step=step, lr=round(lr_at(step, cfg, time_share(a, t_start)), 6), levels_used=q.codes.shape[1],
                       perplexity=[round(p) for p in q.perplexity], s_per_step=round((time.time() - t_last) / agg["n"], 3))
            if step % a.valid_every == 0:
                rec.update(validate(model, valid, mel, dev))
                if frozen:
                    model.encoder.eval()
                    model.quantizer.eval()
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            agg, t_last = {}, time.time()
        done_time = a.max_minutes and minutes_since(t_start) >= a.max_minutes
        if step % a.ckpt_every == 0 or step == cfg.steps or done_time:
            tmp = run / "last.ckpt.tmp"
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": cfg.to_dict(),
                     "frozen_encoder": frozen, "minutes": minutes_since(t_start), **rng_state(rng)}
            if critics is not None:
                state.update(critics=critics.state_dict(), opt_d=opt_d.state_dict(), adv_start=adv_start)
            torch.save(state, tmp)
            os.replace(tmp, ckpt_path)
        if a.keep_every and step % a.keep_every == 0:
            torch.save({"model": model.state_dict(), "step": step, "config": cfg.to_dict()}, run / f"step-{step}.pt")
        if done_time:
            print(f"stopping after {a.max_minutes} minutes at step {step}", flush=True)
            break


if __name__ == "__main__":
    main()
