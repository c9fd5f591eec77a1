"""Offline voice for the kiosk: speech in (viet-asr or Vosk, then the catalogue) and speech out.

- `voice.engines`: one recogniser interface, two engines chosen by `voice.engine` in
  config.yaml: `make_loader`, `make_engine`, `engine_status` (for `kiosk doctor`).
- `voice.vietasr_engine`: viet-asr (default; Vietnamese model inside its wheel): three
  streaming sessions, the catalogue search and closed-set rescoring decide.
- `voice.closedset`: pure: the kiosk's phrases scored against transcripts by sound.
- `voice.recognizer` + `voice.grammar`: Vosk (any language; a catalogue grammar + snapping).
- `voice.audio`: microphone capture, voice-activity endpointing, level meter, `WavSource` (FakeMic).
- `voice.service`: `VoiceService` (alias `Listener`), the thread-safe API the kiosk UI uses
  (events by callback, `voice.events`).
- `voice.speech`: `Speaker`: text-to-speech to cached WAV files (through
  `centre.aloud.for_listening`), a stoppable player, speaking state.

See docs/voice.md ("The contract for the kiosk").
"""
