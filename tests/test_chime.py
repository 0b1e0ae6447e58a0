"""The call chime is a real WAV of two falling tones."""

from __future__ import annotations

import io
import itertools
import math
import struct
import wave

import pytest

from drivers.chime import SAMPLE_RATE, TONE_S, TONES_HZ, chime_wav


def samples(wav: bytes) -> tuple[wave._wave_params, list[int]]:
    with wave.open(io.BytesIO(wav)) as w:
        params = w.getparams()
        raw = w.readframes(params.nframes)
    return params, list(struct.unpack(f"<{len(raw) // 2}h", raw))


def dominant_hz(chunk: list[int]) -> float:
    """Frequency from zero crossings (enough for a clean tone)."""
    crossings = sum(1 for a, b in itertools.pairwise(chunk) if a < 0 <= b)
    return crossings * SAMPLE_RATE / len(chunk)


def test_chime_is_two_falling_tones_of_the_right_length() -> None:
    params, data = samples(chime_wav())
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, SAMPLE_RATE)
    assert params.nframes == int(SAMPLE_RATE * TONE_S) * len(TONES_HZ)
    per = int(SAMPLE_RATE * TONE_S)
    first = dominant_hz(data[200 : per // 2])
    second = dominant_hz(data[per + 200 : per + per // 2])
    assert math.isclose(first, TONES_HZ[0], rel_tol=0.05) and math.isclose(second, TONES_HZ[1], rel_tol=0.05)
    assert first > second  # ding-dong falls


def test_volume_scales_and_is_checked() -> None:
    _, loud = samples(chime_wav(1.0))
    _, quiet = samples(chime_wav(0.25))
    assert max(map(abs, quiet)) < max(map(abs, loud)) / 3
    _, silent = samples(chime_wav(0.0))
    assert max(map(abs, silent)) == 0
    with pytest.raises(ValueError, match="volume"):
        chime_wav(1.5)
