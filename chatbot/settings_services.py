"""The services of the settings staff change live (`chatbot.live_settings`): reading and changing
them, and what the chat page and the widget greet with. Mixed into `chatbot.services.Services`
like `SiteServices`, so the console, its API and a CLI call the same ones.

    >>> services.bot_settings()                                   # every live setting, who set it, when
    >>> services.change_settings({"clarify_target_wrong_rate": 0.1}, by="ada")   # recalibrates the band
    >>> services.greeting("zh")                                    # "" : the page's built-in greeting
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatbot.live_settings import BY_KEY, CALIBRATION_KEYS, LiveSettings, SettingState

if TYPE_CHECKING:
    from knowledge_base.index.writer import IndexStore
    from knowledge_base.index.snapshot import Manifest


@dataclass(frozen=True)
class SettingsChange:
    """What `change_settings` did: the settings whose value in force changed, whether the index
    was recalibrated for a new answer target, and every setting as it is now."""

    changed: list[str]
    recalibrated: bool
    settings: list[SettingState]


class SettingsServices:
    """Mixed into `Services`, whose `live` settings, index and `calibrate_index` these use."""

    live: LiveSettings
    index_store: "IndexStore"

    if TYPE_CHECKING:
        def calibrate_index(self, progress: bool = False) -> "Manifest": ...

    def bot_settings(self) -> list[SettingState]:
        """Every live setting: the value in force, the environment's default, who changed it when."""
        return self.live.states()

    def change_settings(self, values: dict[str, Any], by: str) -> SettingsChange:
        """Change live settings (None: back to the environment's default), all or none:
        `InvalidInput` names the first value that is wrong. A new answer target recalibrates the
        answer / clarify / abstain band at once, from the same inputs as every index build
        (`Services.calibration_inputs`: the KB's phrasings and the staff-labelled turns); the
        other settings take effect on the next question or page load, in every process within
        `chatbot.live_settings.CHECK_EVERY_S` seconds."""
        changed = self.live.change(values, by)
        recalibrate = bool(CALIBRATION_KEYS & set(changed)) and self.index_store.read_manifest() is not None
        if recalibrate:
            self.calibrate_index()
        return SettingsChange(changed, recalibrate, self.live.states())

    def greeting(self, language: str) -> str:
        """The greeting a new chat in `language` shows, as staff set it; "" for the page's own."""
        key = f"greeting_{language}"
        return getattr(self.live.current(), key) if key in BY_KEY else ""

    def pinned_questions(self, language: str) -> list[str]:
        """The suggested questions staff pinned for `language`; [] when the most asked are shown."""
        key = f"suggested_questions_{language}"
        return list(getattr(self.live.current(), key)) if key in BY_KEY else []
