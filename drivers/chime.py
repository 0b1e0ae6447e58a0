"""The chime before each call: a two-tone "ding-dong", synthesized (no asset files, no network).

Pure apart from returning bytes: a WAV in memory that the board plays before the voice, so
residents look up before their number is read out (a visual call always shows it too).
"""

from __future__ import annotations

import io
import math
import struct
import wave

SAMPLE_RATE = 22_050
# Two falling tones a major third apart, like the lobby chimes residents know.
TONES_HZ = (880.0, 698.46)
TONE_S = 0.55


def chime_wav(volume: float = 0.5, tones: tuple[float, ...] = TONES_HZ, tone_s: float = TONE_S) -> bytes:
    """A mono 16-bit WAV of the chime; ``volume`` from 0 to 1."""
    if not 0.0 <= volume <= 1.0:
        raise ValueError(f"volume must be from 0 to 1, got {volume}")
    frames = bytearray()
    per_tone = int(SAMPLE_RATE * tone_s)
    for hz in tones:
        for i in range(per_tone):
            t = i / SAMPLE_RATE
            # A bell: a fast attack, an exponential decay, and a quiet octave for brightness.
            envelope = min(1.0, i / (0.005 * SAMPLE_RATE)) * math.exp(-3.5 * t)
            sample = envelope * (0.8 * math.sin(2 * math.pi * hz * t) + 0.2 * math.sin(4 * math.pi * hz * t))
            frames += struct.pack("<h", int(max(-1.0, min(1.0, sample * volume)) * 32767))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(bytes(frames))
    return out.getvalue()
