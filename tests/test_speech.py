"""Speech: announcement texts, the real offline backends, the queued speaker, audio output.

The backend tests run the real synthesizers (pyopenjtalk, espeak-ng, open_jtalk): they are
installed by ``make deps``, and a missing one fails here with the install command rather than
being skipped, so CI cannot pass while the lobby would be mute.
"""

from __future__ import annotations

import array
import io
import os
import shutil
import stat
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import speech
from drivers.japanese_numbers import MAX_NUMBER, counter_kana, to_katakana
from drivers.speech import (
    LANGUAGES,
    EspeakSynthesizer,
    LobbySpeaker,
    NullSpeaker,
    OpenJTalkCliSynthesizer,
    OpenJTalkSynthesizer,
    Priority,
    RecordingSpeaker,
    SpeechBackendMissing,
    SpeechError,
    UnsupportedLanguage,
    Utterance,
    announce_call,
    announce_focus,
    announce_ticket,
    hanzi_number,
    make_speaker,
    play_wav,
    says_number,
    silent_wav,
    spoken_counter_name,
    wav_duration,
)

# ---- announcement texts ----------------------------------------------------------------------


def test_japanese_announcements_carry_katakana_readings() -> None:
    assert announce_ticket(105, "ja") == "ばんごうは、ヒャクゴバンです。ばんごうふだを、おとりください。"
    assert announce_call(1105, 3, "ja") == "センヒャクゴバンのかた、サンバンまどぐちへ、おこしください。"
    assert announce_call(1105, 3, "ja", digitwise=True).startswith("イチ、イチ、ゼロ、ゴバンのかた、サンバン")
    assert announce_focus(" てんにゅう・てんしゅつ ", "ja") == "てんにゅう・てんしゅつ。けっていボタンで、えらべます。"


def test_other_languages() -> None:
    assert announce_ticket(1105, "en") == "Your number is 1105. Please take your ticket."
    assert announce_call(105, 3, "en") == "Number 105, please come to counter 3."
    assert announce_ticket(1105, "en", digitwise=True).startswith("Your number is 1 1 0 5.")
    assert announce_focus("Moving in", "en") == "Moving in. Press OK to choose."
    # Hanzi, because espeak-ng reads "105" as 一百五 (heard as 150).
    assert announce_call(105, 3, "zh") == "请一百零五号到三号窗口。"
    assert announce_call(105, 3, "ko") == "105번 고객님, 3번 창구로 와 주세요."
    assert "105" in announce_call(105, 3, "vi") and "105" in announce_call(105, 3, "pt-BR")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_phrase(language: str) -> None:
    for text in (announce_ticket(7, language), announce_call(7, 2, language), announce_focus("X", language)):
        assert text and "{" not in text


def test_a_named_counter_is_called_by_its_number_then_its_name() -> None:
    assert announce_call(105, 5, "ja", name="相談室") == "ヒャクゴバンのかた、ゴバン、相談室へ、おこしください。"
    assert announce_call(105, 5, "en", name="Consultation room") == (
        "Number 105, please come to counter 5, Consultation room."
    )
    assert announce_call(105, 5, "zh", name="咨询室") == "请一百零五号到五号咨询室。"
    # Spaces and a full stop of the configuration do not reach the voice.
    assert announce_call(105, 5, "en", name="  Consultation\nroom. ") == (
        "Number 105, please come to counter 5, Consultation room."
    )


def test_a_name_that_says_the_number_is_said_as_without_a_name() -> None:
    # The synthesizer reads the number better than the digits of a name.
    assert (
        announce_call(1105, 3, "ja", name="3番窓口") == "センヒャクゴバンのかた、サンバンまどぐちへ、おこしください。"
    )
    assert announce_call(1105, 3, "ja", name="三番窓口") == announce_call(1105, 3, "ja")
    assert announce_call(105, 3, "en", name="Counter 3") == "Number 105, please come to counter 3."
    for blank in (None, "", "  "):
        assert announce_call(105, 3, "en", name=blank) == "Number 105, please come to counter 3."
    # Another number in the name is not this counter's: the name is said.
    assert announce_call(105, 3, "en", name="Room 13") == "Number 105, please come to counter 3, Room 13."


@pytest.mark.parametrize(
    ("name", "number", "says"),
    [("3番窓口", 3, True), ("窓口３", 3, True), ("Counter 3", 3, True), ("三番窓口", 3, True), ("第三相談室", 3, True),
     ("13番窓口", 3, False), ("三階相談室", 3, False), ("十三番窓口", 3, False), ("相談室", 5, False),
     ("十三番", 13, True), ("0番", 0, True), ("窓口", 0, False)],
)  # fmt: skip
def test_whether_a_name_says_its_number(name: str, number: int, says: bool) -> None:
    assert says_number(name, number) is says


def test_the_spoken_name_is_the_reading_and_none_when_the_name_says_the_number() -> None:
    room = {"ja": "相談室", "kana": "そうだんしつ", "en": "Consultation room"}
    assert spoken_counter_name(room, 5, "ja") == "ソウダンシツ"  # katakana: spoken as written
    assert spoken_counter_name({"ja": "相談室"}, 5, "ja") == "相談室"
    assert spoken_counter_name(room, 5, "en") == "Consultation room"
    assert spoken_counter_name(room, 5, "ko") is None  # no Korean name: "counter 5" as before
    assert spoken_counter_name({"ja": "3番窓口", "kana": "さんばんまどぐち"}, 3, "ja") is None
    assert spoken_counter_name({}, 3, "en") is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_names_a_counter(language: str) -> None:
    text = announce_call(7, 2, language, name="Z-room")
    assert "{" not in text and "Z-room" in text and text != announce_call(7, 2, language)


def test_unknown_language_and_bad_number_are_refused() -> None:
    with pytest.raises(UnsupportedLanguage, match="fr"):
        announce_ticket(1, "fr")
    with pytest.raises(ValueError):
        announce_ticket(MAX_NUMBER + 1, "en")


@pytest.mark.parametrize(
    ("n", "hanzi"),
    [(0, "零"), (10, "十"), (15, "十五"), (105, "一百零五"), (110, "一百一十"), (1005, "一千零五"),
     (1105, "一千一百零五"), (10001, "一万零一"), (10015, "一万零一十五"), (11000, "一万一千"), (20020, "二万零二十")],
)  # fmt: skip
def test_hanzi_numbers(n: int, hanzi: str) -> None:
    assert hanzi_number(n) == hanzi


# ---- the real backends -----------------------------------------------------------------------


def _loudness(wav: bytes) -> float:
    """RMS of a 16-bit mono WAV (a WAV of the right length could still be silence)."""
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        samples = array.array("h", w.readframes(w.getnframes()))
    return float((sum(s * s for s in samples[::7]) / max(1, len(samples[::7]))) ** 0.5)


@pytest.fixture(scope="module")
def jtalk() -> OpenJTalkSynthesizer:
    return OpenJTalkSynthesizer()


@pytest.fixture(scope="module")
def espeak() -> EspeakSynthesizer:
    return EspeakSynthesizer()


def test_openjtalk_speaks_a_japanese_call(jtalk: OpenJTalkSynthesizer) -> None:
    text = announce_call(105, 3, "ja")
    assert jtalk.reading(text) == "ヒャクゴバンノカタ、サンバンマドグチエ、オコシクダサイ。"
    wav = jtalk.synthesize(text, "ja")
    assert 3.0 < wav_duration(wav) < 8.0
    assert _loudness(wav) > 300


def test_openjtalk_reads_a_named_counter(jtalk: OpenJTalkSynthesizer) -> None:
    for name in ("相談室", spoken_counter_name({"ja": "相談室", "kana": "そうだんしつ"}, 5, "ja")):
        assert jtalk.reading(announce_call(105, 5, "ja", name=name)) == (
            "ヒャクゴバンノカタ、ゴバン、ソーダンシツエ、オコシクダサイ。"
        )


def test_why_readings_not_kanji(jtalk: OpenJTalkSynthesizer) -> None:
    """What goes wrong when the synthesizer does the reading (guards the katakana design)."""
    assert jtalk.reading("105番の方") == "ヒャクゴバンノホー"  # 方 as "direction", not かた
    assert jtalk.reading("ろっぴゃくはちばん") == "ロッピャクワチバン"  # は taken for the particle
    assert jtalk.reading(to_katakana("ろっぴゃくはちばん")) == "ロッピャクハチバン"


def _said(reading: str) -> str:
    # Open JTalk writes some long vowels with ー (ジュー); the sound is the same as ジュウ.
    return reading.replace("ュー", "ュウ")


@pytest.mark.parametrize("n", [0, 3, 4, 7, 8, 9, 21, 91, 300, 600, 608, 800, 888, 1105, 3000, 3800, 8000, 10000, 99999])
def test_openjtalk_reads_our_numbers_as_written(jtalk: OpenJTalkSynthesizer, n: int) -> None:
    expected = f"{to_katakana(counter_kana(n))}ノカタ、ヨンバンマドグチエ、オコシクダサイ。"
    assert _said(jtalk.reading(announce_call(n, 4, "ja"))) == expected
    digitwise = to_katakana(counter_kana(n, digitwise=True, separator="、"))
    assert _said(jtalk.reading(announce_call(n, 4, "ja", digitwise=True))).startswith(digitwise + "ノカタ")


@settings(max_examples=150, deadline=None)
@given(st.integers(0, MAX_NUMBER))
def test_openjtalk_reads_any_ticket_number_as_written(jtalk: OpenJTalkSynthesizer, n: int) -> None:
    # All 100,000 numbers were checked once this way (8 s); here a sample keeps the suite fast.
    assert _said(jtalk.reading(announce_ticket(n, "ja"))) == (
        f"バンゴーワ、{to_katakana(counter_kana(n))}デス。バンゴーフダヲ、オトリクダサイ。"
    )


@pytest.mark.parametrize("text", ["", "、", "🙂", "っ", "ABC"])
def test_openjtalk_survives_unspeakable_text(jtalk: OpenJTalkSynthesizer, text: str) -> None:
    # HTS_Engine segfaults on an empty label list; the synthesizer must not hand it one.
    assert wav_duration(jtalk.synthesize(text, "ja")) < 3.0


def test_espeak_speaks_english_and_every_lobby_language(espeak: EspeakSynthesizer) -> None:
    wav = espeak.synthesize(announce_call(1105, 3, "en"), "en")
    assert 2.0 < wav_duration(wav) < 8.0
    assert _loudness(wav) > 300
    for language in LANGUAGES:
        assert 1.0 < wav_duration(espeak.synthesize(announce_call(105, 3, language), language)) < 10.0


def test_espeak_mandarin_voice_is_not_reading_pinyin_as_english(espeak: EspeakSynthesizer) -> None:
    assert "(en)" not in espeak.phonemes(announce_call(105, 3, "zh_CN"), "zh_CN")


def test_espeak_takes_text_starting_with_a_dash(espeak: EspeakSynthesizer) -> None:
    assert wav_duration(espeak.synthesize("-v is not an option", "en")) > 0.5


def test_openjtalk_cli(jtalk: OpenJTalkSynthesizer) -> None:
    import pyopenjtalk  # type: ignore[import-untyped]

    # Debian main has no HTS voice package; pyopenjtalk's bundled voice stands in on CI.
    voice = (
        speech.DEBIAN_HTS_VOICE if Path(speech.DEBIAN_HTS_VOICE).is_file() else pyopenjtalk.DEFAULT_HTS_VOICE.decode()
    )
    cli = OpenJTalkCliSynthesizer(voice=voice)
    wav = cli.synthesize(announce_call(608, 3, "ja"), "ja")
    assert 3.0 < wav_duration(wav) < 8.0
    assert wav_duration(cli.synthesize("、", "ja")) < 1.0


def test_lobby_speaker_routes_by_language() -> None:
    played: list[bytes] = []
    speaker = make_speaker("openjtalk", output=lambda wav, stop: played.append(wav))
    try:
        t0 = time.monotonic()
        speaker.say(announce_call(105, 3, "ja"), "ja")
        speaker.say(announce_call(105, 3, "en"), "en")
        assert time.monotonic() - t0 < 0.1, "say() must only queue"
        assert isinstance(speaker, LobbySpeaker) and speaker.wait_idle(20)
        assert len(played) == 2 and speaker.errors == 0
        with wave.open(io.BytesIO(played[0])) as w:
            assert w.getframerate() == 48_000  # Open JTalk, not espeak-ng (22.05 kHz)
        with wave.open(io.BytesIO(played[1])) as w:
            assert w.getframerate() == 22_050
    finally:
        speaker.close()


def test_openjtalk_without_pyopenjtalk_speaks_through_debians_open_jtalk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Debian package has no pyopenjtalk: the same engine, Debian's command, speaks instead."""
    import pyopenjtalk

    voice = pyopenjtalk.DEFAULT_HTS_VOICE.decode()  # Debian's voice is in contrib, not on CI
    monkeypatch.setitem(sys.modules, "pyopenjtalk", None)  # makes the import fail
    played: list[bytes] = []
    speaker = make_speaker("openjtalk", voice=voice, output=lambda wav, stop: played.append(wav))
    try:
        assert isinstance(speaker, LobbySpeaker)
        speaker.say(announce_call(105, 3, "ja"), "ja")
        assert speaker.wait_idle(20) and speaker.errors == 0 and len(played) == 1
        assert 2.0 < wav_duration(played[0]) < 8.0
    finally:
        speaker.close()


# ---- missing backends are reported, never replaced by another engine ----------------------


def test_missing_espeak_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SpeechBackendMissing, match="apt-get install espeak-ng"):
        make_speaker("espeak")
    with pytest.raises(SpeechBackendMissing, match="apt-get install open-jtalk"):
        make_speaker("openjtalk-cli")


def test_missing_pyopenjtalk_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyopenjtalk", None)  # makes the import fail
    monkeypatch.setattr(shutil, "which", lambda name: None)  # and no open_jtalk to fall back on
    with pytest.raises(SpeechBackendMissing, match="pip install pyopenjtalk.*apt-get install open-jtalk"):
        make_speaker("openjtalk")


def test_missing_dictionary_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(SpeechBackendMissing, match="open-jtalk-mecab-naist-jdic"):
        OpenJTalkSynthesizer(dict_dir=str(tmp_path))


def test_missing_voice_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(SpeechBackendMissing, match="hts-voice-nitech-jp-atr503-m001"):
        OpenJTalkCliSynthesizer(voice=str(tmp_path / "none.htsvoice"))


def test_unknown_backend() -> None:
    with pytest.raises(SpeechError, match="openjtalk, openjtalk-cli, espeak"):
        make_speaker("festival")


# ---- the queued speaker, with a scripted synthesizer and output ------------------------------


class ScriptedSynth:
    """Returns the text as 'audio'; fails on texts that start with 'FAIL'."""

    languages = frozenset({"ja", "en"})

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def synthesize(self, text: str, language: str) -> bytes:
        time.sleep(self.delay)
        if text.startswith("FAIL"):
            raise RuntimeError("scripted failure")
        return text.encode()


class BlockingOutput:
    """'Plays' until told to finish or stopped; records what played and what was cut."""

    def __init__(self) -> None:
        self.played: list[str] = []
        self.cut: list[str] = []
        self.started = threading.Event()
        self.finish = threading.Event()

    def __call__(self, wav: bytes, stop: threading.Event) -> None:
        self.started.set()
        while not self.finish.is_set():
            if stop.wait(0.01):
                self.cut.append(wav.decode())
                return
        self.played.append(wav.decode())


@pytest.fixture
def scripted() -> Iterator[tuple[LobbySpeaker, BlockingOutput]]:
    out = BlockingOutput()
    speaker = LobbySpeaker({"ja": ScriptedSynth(), "en": ScriptedSynth()}, output=out)
    yield speaker, out
    speaker.close()


def test_queue_plays_in_order(scripted: tuple[LobbySpeaker, BlockingOutput]) -> None:
    speaker, out = scripted
    out.finish.set()
    for i in range(5):
        speaker.say(f"call {i}", "en")
    assert speaker.wait_idle(5)
    assert out.played == [f"call {i}" for i in range(5)]


def test_interrupt_cuts_current_and_drops_queue(scripted: tuple[LobbySpeaker, BlockingOutput]) -> None:
    speaker, out = scripted
    speaker.say("first", "ja")
    assert out.started.wait(5)
    speaker.say("queued", "ja")
    speaker.say("focus", "ja", Priority.INTERRUPT)
    out.finish.set()
    assert speaker.wait_idle(5)
    assert out.cut == ["first"]
    assert out.played == ["focus"]


def test_a_failing_utterance_does_not_stop_the_worker(scripted: tuple[LobbySpeaker, BlockingOutput]) -> None:
    speaker, out = scripted
    out.finish.set()
    speaker.say("FAIL once", "en")
    speaker.say("after", "en")
    assert speaker.wait_idle(5)
    assert out.played == ["after"]
    assert speaker.errors == 1 and "scripted failure" in (speaker.last_error or "")


def test_say_never_waits_for_synthesis() -> None:
    out = BlockingOutput()
    out.finish.set()
    speaker = LobbySpeaker({"en": ScriptedSynth(delay=0.3)}, output=out)
    try:
        t0 = time.monotonic()
        speaker.say("slow", "en")
        assert time.monotonic() - t0 < 0.1
        assert speaker.wait_idle(5) and out.played == ["slow"]
    finally:
        speaker.close()


def test_unconfigured_language_is_refused_at_say(scripted: tuple[LobbySpeaker, BlockingOutput]) -> None:
    speaker, _ = scripted
    with pytest.raises(UnsupportedLanguage, match="ko"):
        speaker.say("안녕하세요", "ko")


def test_close_stops_playback_and_later_says_are_ignored(scripted: tuple[LobbySpeaker, BlockingOutput]) -> None:
    speaker, out = scripted
    speaker.say("long", "en")
    assert out.started.wait(5)
    speaker.close()
    assert out.cut == ["long"]
    speaker.say("too late", "en")
    assert out.played == []


# ---- fakes and the "none" backend -------------------------------------------------------------


def test_recording_speaker() -> None:
    rec = make_speaker("recording")
    assert isinstance(rec, RecordingSpeaker)
    rec.say("ひゃくごばん", "ja")
    rec.say("Number 105", "en", Priority.INTERRUPT)
    assert rec.texts() == [("ひゃくごばん", "ja"), ("Number 105", "en")]
    assert rec.spoken[1] == Utterance("Number 105", "en", Priority.INTERRUPT)
    assert wav_duration(rec.synthesize("x", "zh")) > 0
    with pytest.raises(UnsupportedLanguage):
        rec.say("bonjour", "fr")
    rec.close()
    assert rec.closed


def test_null_speaker() -> None:
    none = make_speaker("none")
    assert isinstance(none, NullSpeaker)
    none.say("anything", "ja")
    assert wav_duration(none.synthesize("anything", "en")) == 0.0


# ---- audio output never crashes ---------------------------------------------------------------


def _fake_aplay(tmp_path: Path, body: str) -> None:
    exe = tmp_path / "aplay"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_play_wav_without_aplay_reports_and_returns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    wav = tmp_path / "x.wav"
    wav.write_bytes(silent_wav(0.1))
    assert play_wav(wav) is False
    assert speech.audio_output_problem() == "aplay is not installed (apt-get install alsa-utils)"


def test_play_wav_reports_an_aplay_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_aplay(tmp_path, "echo 'aplay: main:831: audio open error: No such file or directory' >&2; exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(speech, "audio_output_problem", lambda: None)
    assert speech.play_wav_bytes(silent_wav(0.1)) is False


def test_play_wav_can_be_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_aplay(tmp_path, "exec sleep 10")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(speech, "audio_output_problem", lambda: None)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    assert speech.play_wav_bytes(silent_wav(0.1), stop=stop) is True
    assert time.monotonic() - t0 < 3
