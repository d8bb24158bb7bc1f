"""Text side of the Janus backend: the DeepSeek tokenizer, streamed decoding, the repetition guard.

The tokenizer is read straight from the checkpoint's ``tokenizer.json`` with the ``tokenizers``
library, so the token ids are exactly the ones DeepSeek's processor produces: a begin-of-sentence
token, then the byte-level BPE of the prompt. Nothing here imports transformers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from januscxr.errors import ModelError

# Special tokens of the DeepSeek / Janus vocabulary.
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
PAD_TOKEN = "<｜▁pad▁｜>"
IMAGE_TOKEN = "<image_placeholder>"
IMAGE_START_TOKEN = "<begin_of_image>"
IMAGE_END_TOKEN = "<end_of_image>"

# A greedy loop: the tail is one block of at least MIN_PERIOD tokens repeated MIN_REPEATS times.
MIN_PERIOD = 4
MAX_PERIOD = 48
MIN_REPEATS = 4


class JanusTokenizer:
    """The checkpoint's tokenizer: ``encode`` adds the begin-of-sentence token as DeepSeek's does."""

    def __init__(self, tokenizer: Tokenizer, *, add_bos: bool = True) -> None:
        self.backend = tokenizer
        self.add_bos = add_bos
        self.bos_id = self.token_id(BOS_TOKEN)
        self.eos_id = self.token_id(EOS_TOKEN)
        pad = tokenizer.token_to_id(PAD_TOKEN)
        self.pad_id = self.eos_id if pad is None else pad
        self.image_id = self.token_id(IMAGE_TOKEN)
        self.image_start_id = self.token_id(IMAGE_START_TOKEN)
        self.image_end_id = self.token_id(IMAGE_END_TOKEN)

    @classmethod
    def from_dir(cls, folder: Path) -> JanusTokenizer:
        """Read ``tokenizer.json`` (and ``add_bos_token`` from ``tokenizer_config.json``)."""
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ModelError(f"{path}: not found; expected the checkpoint's tokenizer.json")
        config_path = folder / "tokenizer_config.json"
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        return cls(Tokenizer.from_file(str(path)), add_bos=bool(config.get("add_bos_token", True)))

    def token_id(self, token: str) -> int:
        found = self.backend.token_to_id(token)
        if found is None:
            raise ModelError(f"tokenizer has no {token!r} token; expected a DeepSeek Janus tokenizer")
        return int(found)

    def encode(self, text: str) -> list[int]:
        ids = list(self.backend.encode(text, add_special_tokens=False).ids)
        return [self.bos_id, *ids] if self.add_bos else ids

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.backend.decode(list(ids), skip_special_tokens=True))


def repeated_tail(tokens: Sequence[int]) -> int:
    """Length of the looping tail to cut (all repeats but the first), or 0 when there is no loop."""
    for period in range(MIN_PERIOD, min(MAX_PERIOD, len(tokens) // MIN_REPEATS) + 1):
        block = tokens[-period:]
        if all(tokens[-(k + 1) * period : len(tokens) - k * period] == block for k in range(1, MIN_REPEATS)):
            repeats = MIN_REPEATS
            while len(tokens) >= (repeats + 1) * period and (
                tokens[-(repeats + 1) * period : len(tokens) - repeats * period] == block
            ):
                repeats += 1
            return (repeats - 1) * period
    return 0


class TokenStream:
    """A ``generate`` streamer that hands decoded text deltas to ``on_text(index, text)``.

    Works for any batch size; each sequence stops streaming at its end-of-sentence token.
    """

    def __init__(self, tokenizer: JanusTokenizer, on_text: Callable[[int, str], None]) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.tokens: list[list[int]] = []
        self.sent: list[int] = []
        self.done: list[bool] = []
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # the first call carries the prompt
            self.prompt_seen = True
            rows = 1 if value.dim() == 1 else int(value.shape[0])
            self.tokens, self.sent, self.done = [[] for _ in range(rows)], [0] * rows, [False] * rows
            return
        column = value.reshape(-1).tolist()
        for index, token in enumerate(column):
            if self.done[index]:
                continue
            if token == self.tokenizer.eos_id:
                self.done[index] = True
                continue
            self.tokens[index].append(int(token))
            self._emit(index, final=False)

    def end(self) -> None:
        for index in range(len(self.tokens)):
            self._emit(index, final=True)

    def _emit(self, index: int, *, final: bool) -> None:
        text = self.tokenizer.decode(self.tokens[index])
        if not final and text.endswith("\ufffd"):  # a multi-byte character still arriving
            return
        if len(text) > self.sent[index]:
            self.on_text(index, text[self.sent[index] :])
            self.sent[index] = len(text)
