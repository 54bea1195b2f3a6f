"""The course: profiles and the papermill runner (`python -m stirer_lib.course`)."""

from .profiles import PROFILE_NAMES, apply_overrides, default_profile, get_profile

__all__ = ["PROFILE_NAMES", "apply_overrides", "default_profile", "get_profile"]
