"""How varied the synthetic words are: the TextZoom-like 'full' style and the CPU 'lesson' style.

The full style (30 k words, 32 fonts, photo backgrounds, codes and punctuation) looks like
TextZoom, and a recogniser needs thousands of GPU steps to leave CTC's all-blank plateau on it.
The lesson style keeps the same camera model (so LR/HR pairs are as degraded as TextZoom's) but
draws the words from the 1,000 most frequent English words in six plain fonts over flat or
gradient backgrounds: a model learns to read them within the minutes of the cpu profile.
Profiles pick one by name (`data.style`); the name and its fields are stored in the data set's
synth.json, so changing the style regenerates the set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SynthStyle:
    """Word, font and background variety of the synthetic generator."""

    name: str
    vocab_size: int = 30000  # the most frequent English words of wordfreq that may be drawn
    p_code: float = 0.2  # numbers, prices, years, alphanumeric codes
    p_punct: float = 0.15  # a punctuation mark before or after the word (filtered out of the label)
    fonts: str = "all"  # "all": every usable font; "plain": the PLAIN_FONTS found among them
    p_photo: float = 0.4  # backgrounds cropped from photographs (the rest flat or gradient)
    max_angle: float = 4.0  # rotation, degrees
    max_persp: float = 0.06  # perspective jitter, fraction of the word box

    def as_dict(self) -> dict:
        return asdict(self)


STYLES: dict[str, SynthStyle] = {
    "full": SynthStyle("full"),
    "lesson": SynthStyle(
        "lesson", vocab_size=1000, p_code=0.05, p_punct=0.05, fonts="plain", p_photo=0.0, max_angle=2.0, max_persp=0.03
    ),
}


def get_style(style: str | SynthStyle | None) -> SynthStyle:
    """A SynthStyle from its name ('full', 'lesson'); None means 'full'."""
    if isinstance(style, SynthStyle):
        return style
    name = style or "full"
    if name not in STYLES:
        raise ValueError(
            f"unknown synthetic style {name!r}; choose one of {', '.join(STYLES)} (profile key data.style)"
        )
    return STYLES[name]
