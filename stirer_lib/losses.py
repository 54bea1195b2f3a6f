"""STIRER's training objective: L_SR (Eq. 7), L_Rec (Eq. 8) and their mix (Eq. 9).

L_SR  = sum_{i=1..L+1} i * L_GP(I_SR^i, I_HR)                     (Eq. 7)
L_Rec = sum_{i=1..L} i * L_CTC(p_i, y) + (L+1) * L_CE(p_{L+1}, y)  (Eq. 8)
L     = alpha * L_SR + (1 - alpha) * L_Rec, alpha = 0.5 as released (Eq. 9 writes L_SR + L_Rec)

Details fixed by ../shared/fixtures/official_stirer_seed0.pt (`train_py_losses_evalmode`):
- L_GP is TSRN's gradient-profile image loss: 20 x MSE over all 4 channels (RGB + mask) plus
  1e-2 x the L1 distance of the gradient-magnitude maps of the RGB channels only (the released
  ImageLoss slices [:, :3] for the gradient prior; over 4 channels the fixture is off by 1e-4).
- L_CTC is torch's CTC loss with reduction 'mean' (per word divided by its length, then batch
  mean) on the 32 frames of each mini STR decoder. We set zero_infinity=True: a word with many
  repeated letters can need more than 32 frames; the fixture's values are finite either way.
- L_CE is T5's cross entropy over all 31 label positions, computed as transformers'
  T5ForConditionalGeneration computes its loss (CrossEntropyLoss(ignore_index=-100) over the logits);
  pads (0) count, as in the release (0 is not the ignore index -100).
The model computes no loss (stirer_lib.models.STIRER returns outputs only). Every loss here casts the
outputs it reads to float32 itself, the one place they are cast: a bf16 autocast forward's outputs
enter as they are.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

MSE_WEIGHT = 20.0
GP_WEIGHT = 1e-2
GP_CHANNELS = 3  # the gradient prior sees RGB only


def gradient_map(x: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude with central differences and zero padding: [B, C, H, W] -> same shape."""
    h, w = x.shape[-2:]
    right = F.pad(x, (0, 1, 0, 0))[..., :, 1:]
    left = F.pad(x, (1, 0, 0, 0))[..., :, :w]
    top = F.pad(x, (0, 0, 1, 0))[..., :h, :]
    bottom = F.pad(x, (0, 0, 0, 1))[..., 1:, :]
    return (((right - left) * 0.5) ** 2 + ((top - bottom) * 0.5) ** 2 + 1e-6).sqrt()


def gradient_profile_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """TSRN's L_GP per image: 20 x MSE(sr, hr) + 1e-2 x L1(grad(sr), grad(hr)) -> [B]."""
    if sr.shape != hr.shape or sr.dim() != 4:
        raise ValueError(
            f"gradient_profile_loss needs two [B, C, H, W] tensors of one shape, got "
            f"{tuple(sr.shape)} and {tuple(hr.shape)}"
        )
    sr, hr = sr.float(), hr.float()
    mse = (sr - hr).pow(2).flatten(1).mean(1)  # [B]
    gp = (gradient_map(sr[:, :GP_CHANNELS]) - gradient_map(hr[:, :GP_CHANNELS])).abs().flatten(1).mean(1)
    return MSE_WEIGHT * mse + GP_WEIGHT * gp


def _sr_outputs(out: Any) -> list[torch.Tensor]:
    """The SR images in Eq. 7's order: the L intermediate ones, then the final one (if any)."""
    srs = list(getattr(out, "srs", None) or [])
    if getattr(out, "sr", None) is not None:
        srs.append(out.sr)
    return srs


def sr_terms(out: Any, hr: torch.Tensor) -> list[torch.Tensor]:
    """L_GP (batch mean) of each SR output, intermediate first, final last."""
    return [gradient_profile_loss(sr, hr).mean() for sr in _sr_outputs(out)]


def progressive_sum(terms: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """sum_i i * term_i with i = 1, 2, ... (the progressive weights of Eqs. 7 and 8)."""
    return sum((i * t for i, t in enumerate(terms, start=1)), torch.zeros((), device=device))


def sr_loss(out: Any, hr: torch.Tensor) -> torch.Tensor:
    """L_SR, Eq. 7: sum_i i * L_GP(I_SR^i, I_HR) over the intermediate then the final SR images."""
    return progressive_sum(sr_terms(out, hr), hr.device)


def ctc_loss(logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """L_CTC of Eq. 8 (Graves et al. 2006; mean over words of loss / length, blank 0): raw scores
    logits [B, T, 37] (a mini STR decoder's; a CRNN's [T, B, 37] transposed), targets concatenated (1-36)."""
    b, t, _ = logits.shape
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # [T, B, 37]
    frames = torch.full((b,), t, dtype=torch.long)  # lengths on the CPU: torch reads them on the host
    per_word = F.ctc_loss(
        log_probs,
        targets.long().to(logits.device, non_blocking=True),
        frames,
        lengths.long().cpu(),
        blank=0,
        reduction="none",
        zero_infinity=True,
    )
    # reduction "mean" by hand (the same arithmetic): torch's would copy the lengths to the device and wait
    return (per_word / lengths.to(per_word.device, non_blocking=True).clamp_min(1)).mean()


def t5_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_CE of Eq. 8 as T5ForConditionalGeneration computes its loss: CrossEntropyLoss(ignore_index=-100) of the
    teacher-forced logits [B,31,38] (in float32) against the decoder labels [B,31] at every position."""
    labels = labels.to(logits.device)
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"ar_logits {tuple(logits.shape)} do not match decoder_labels {tuple(labels.shape)}")
    return F.cross_entropy(logits.float().flatten(0, 1), labels.long().flatten(), ignore_index=-100)


def decoder_ce(out: Any, decoder_labels: torch.Tensor) -> torch.Tensor | None:
    """L_CE of Eq. 8 from a model output: t5_cross_entropy of its ar_logits; None without them."""
    logits = getattr(out, "ar_logits", None)
    return None if logits is None else t5_cross_entropy(logits, decoder_labels)


def rec_terms(out: Any, batch: dict) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """(L_CTC of each mini STR decoder, L_CE of the STR decoder or None)."""
    ctc = [ctc_loss(lg, batch["ctc_targets"], batch["ctc_lengths"]) for lg in (getattr(out, "ctc_logits", None) or [])]
    return ctc, decoder_ce(out, batch["decoder_labels"])


def rec_loss(out: Any, batch: dict) -> torch.Tensor:
    """L_Rec, Eq. 8: sum_i i * L_CTC(p_i, y) + (L+1) * L_CE(p_{L+1}, y)."""
    return _rec_from_terms(*rec_terms(out, batch), device=batch["hr"].device)


def _rec_from_terms(ctc: list[torch.Tensor], ce: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """Eq. 8 from its terms: sum_i i * ctc_i + (L+1) * ce (L = len(ctc))."""
    total = progressive_sum(ctc, device)
    return total if ce is None else total + (len(ctc) + 1) * ce


def stirer_loss(out: Any, batch: dict, alpha: float = 0.5) -> dict[str, torch.Tensor]:
    """Eq. 9 as released: alpha * L_SR + (1 - alpha) * L_Rec, with every term for logging.

    Returns total, l_sr, l_rec, gp_1..gp_{L+1} (the last is the final SR), ctc_1..ctc_L, ce.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    hr = batch["hr"]
    gp = sr_terms(out, hr)
    ctc, ce = rec_terms(out, batch)
    l_sr = progressive_sum(gp, hr.device)
    l_rec = _rec_from_terms(ctc, ce, hr.device)
    parts = {"total": alpha * l_sr + (1 - alpha) * l_rec, "l_sr": l_sr, "l_rec": l_rec}
    parts.update({f"gp_{i}": t for i, t in enumerate(gp, start=1)})
    parts.update({f"ctc_{i}": t for i, t in enumerate(ctc, start=1)})
    if ce is not None:
        parts["ce"] = ce
    return parts
