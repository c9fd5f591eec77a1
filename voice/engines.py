"""One recogniser interface, two engines, chosen by `voice.engine` in config.yaml.

| engine | model | languages | install |
|---|---|---|---|
| `vietasr` (default) | streaming Conformer-CTC inside the viet-asr wheel | Vietnamese | `make setup` |
| `vosk` | the Vosk model at `voice.model_path` | any (the model's) | `kiosk voice install-model FILE.zip` |

Both engines have the same methods: `begin()`, `accept(pcm)`, `partial_text()`,
`finish() -> Interpretation`, `cancel()`, `recognize_pcm(pcm)`, `refresh()`; both loaders
have `start()`, `wait()`, `subscribe(fn)`, `state`, `error`, `load_s`, `path`.

- `make_loader(cfg)`: the process's shared loader of the configured engine.
- `make_engine(cfg, conn_factory, loader, **kw)`: the engine on that loader.
- `engine_status(cfg, load=False)`: name, version, languages, whether it works (for
  `kiosk doctor` and the kiosk's explanation when voice is off).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class EngineStatus:
    """What `kiosk doctor` says about the recogniser."""

    engine: str  # vietasr | vosk
    name: str  # viet-asr | Vosk
    version: str | None
    languages: list[str]
    ok: bool
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def make_loader(cfg):
    if cfg.voice.engine == "vietasr":
        from voice.vietasr_engine import shared_vietasr

        return shared_vietasr()
    from voice.recognizer import shared_model

    return shared_model(cfg.path(cfg.voice.model_path))


def make_engine(cfg, conn_factory: Callable, loader, **kw):
    if cfg.voice.engine == "vietasr":
        from voice.vietasr_engine import VietAsrEngine

        kw.pop("use_grammar", None)
        return VietAsrEngine(cfg, conn_factory, loader, **kw)
    from voice.recognizer import VoiceEngine

    return VoiceEngine(cfg, conn_factory, loader, **kw)


def languages(cfg) -> list[str]:
    """Languages the configured engine understands ('vi' for viet-asr; the model's for Vosk)."""
    return ["vi"] if cfg.voice.engine == "vietasr" else [cfg.voice.language]


def engine_status(cfg, load: bool = False, timeout: float = 60.0) -> EngineStatus:
    """Is the configured engine there (and, with `load`, does it load and decode a second of silence)?"""
    if cfg.voice.engine == "vietasr":
        from voice.vietasr_engine import ENGINE_NAME, PINNED_VERSION, vietasr_version

        version = vietasr_version()
        if version is None:
            return EngineStatus("vietasr", ENGINE_NAME, None, ["vi"], False,
                                f"viet-asr is not installed: run `make setup` (pip install viet-asr=={PINNED_VERSION})")
        note = "" if version == PINNED_VERSION else f" (tested with {PINNED_VERSION})"
        if not load:
            return EngineStatus("vietasr", ENGINE_NAME, version, ["vi"], True, f"viet-asr {version}{note} installed")
        loader = make_loader(cfg).start()
        if not loader.wait(timeout):
            return EngineStatus("vietasr", ENGINE_NAME, version, ["vi"], False, loader.error or "did not load")
        try:
            with loader.model.stream(sample_rate=float(cfg.voice.sample_rate)) as s:
                s.accept(b"\x00\x00" * cfg.voice.sample_rate)
                s.final()
        except Exception as exc:
            return EngineStatus("vietasr", ENGINE_NAME, version, ["vi"], False, f"viet-asr failed to decode: {exc}")
        scoring = ("phrase scoring on its acoustic model" if loader.acoustic is not None
                   else f"phrase scoring OFF, transcripts only: {loader.acoustic_error}")
        return EngineStatus("vietasr", ENGINE_NAME, version, ["vi"], True,
                            f"viet-asr {version}{note} works (Vietnamese; {scoring}; loaded in {loader.load_s:.1f} s)")
    from voice.recognizer import ModelError, inspect_model

    try:
        import vosk

        version = getattr(vosk, "__version__", None) or "installed"
    except ImportError:
        return EngineStatus("vosk", "Vosk", None, [cfg.voice.language], False, "vosk is not installed")
    try:
        info = inspect_model(cfg.path(cfg.voice.model_path))
    except ModelError as exc:
        return EngineStatus("vosk", "Vosk", version, [cfg.voice.language], False, str(exc))
    kind = "grammar (lookahead)" if info.lookahead else "free decoding"
    return EngineStatus("vosk", "Vosk", version, [cfg.voice.language], True,
                        f"Vosk {version}, model {info.path} ({info.size_mb} MB, {kind}, language {cfg.voice.language})")
