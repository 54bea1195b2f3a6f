"""How varied the synthetic words are: the TextZoom-like 'full' style, the CPU 'lesson' style, and the
open-world 'open' style with its test-only companion 'rare'.

The full style (30 k words, 32 fonts, photo backgrounds, codes and punctuation) looks like
TextZoom, and a recogniser needs thousands of GPU steps to leave CTC's all-blank plateau on it.
The lesson style keeps the same camera model (so LR/HR pairs are as degraded as TextZoom's) but
draws the words from the 1,000 most frequent English words in six plain fonts over flat or
gradient backgrounds: a model learns to read them within the minutes of the cpu profile.
The open style (issue 31) adds what a recogniser cannot recall from a dictionary: random strings
(pseudo-words of syllables, letters and digits) and glyphs sheared or thinned, on more photo
backgrounds; 'rare' draws its words from wordfreq's ranks 30,000-60,000, which no other style uses,
so a test set of it holds only words a model never trained on.
Profiles pick one by name (`data.style`); the name and its fields are stored in the data set's
synth.json, so changing the style regenerates the set (the fields added for the open style are
stored only when set, so that sets generated before them stay valid).
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
    # the open style's (issue 31); 0 draws nothing from the generator's random stream, so the older styles' bytes
    # are unchanged
    p_random: float = 0.0  # random strings no dictionary holds (words.random_string)
    min_rank: int = 0  # draw words from wordfreq's ranks min_rank..vocab_size only (a set of rarer words)
    p_slant: float = 0.0  # glyphs sheared like an italic (render.text_mask)
    p_thin: float = 0.0  # thinner strokes (an erosion of the glyphs)

    def as_dict(self) -> dict:
        """The fields as synth.json stores them (the open style's only when set)."""
        later = {f: v for f, v in asdict(SynthStyle("")).items() if f in ADDED_FIELDS}
        return {k: v for k, v in asdict(self).items() if k not in later or v != later[k]}


ADDED_FIELDS = ("p_random", "min_rank", "p_slant", "p_thin")


STYLES: dict[str, SynthStyle] = {
    "full": SynthStyle("full"),
    "lesson": SynthStyle(
        "lesson", vocab_size=1000, p_code=0.05, p_punct=0.05, fonts="plain", p_photo=0.0, max_angle=2.0, max_persp=0.03
    ),
    "open": SynthStyle("open", p_code=0.15, p_random=0.3, p_photo=0.5, max_angle=5.0, p_slant=0.3, p_thin=0.15),
    # test only: words of ranks 30,000-60,000 (none of them in any other style), rendered as the open style
    "rare": SynthStyle(
        "rare", vocab_size=60000, min_rank=30000, p_code=0.0, p_photo=0.5, max_angle=5.0, p_slant=0.3, p_thin=0.15
    ),
}


def get_style(style: str | SynthStyle | None) -> SynthStyle:
    """A SynthStyle from its name ('full', 'lesson', 'open', 'rare'); None means 'full'."""
    if isinstance(style, SynthStyle):
        return style
    name = style or "full"
    if name not in STYLES:
        raise ValueError(
            f"unknown synthetic style {name!r}; choose one of {', '.join(STYLES)} (profile key data.style)"
        )
    return STYLES[name]
