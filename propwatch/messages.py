"""The language of what propwatch tells people: zh-CN for the duty room, English on request.

`PROPWATCH_LANG` wins; otherwise the locale (`LC_ALL`, then `LANG`) decides: zh* is Chinese,
any other set locale English; with none set, Chinese (the people who run a 小区's site).
"""

from __future__ import annotations

import os


def lang() -> str:
    """ "zh" or "en"."""
    chosen = os.environ.get("PROPWATCH_LANG") or os.environ.get("LC_ALL") or os.environ.get("LANG")
    if not chosen:
        return "zh"
    return "zh" if chosen.lower().startswith("zh") else "en"


def say(zh: str, en: str) -> str:
    """The message in the chosen language."""
    return zh if lang() == "zh" else en
