"""``pymer.profile`` is the function (bound in ``pymer/__init__.py``); this module keeps
``from pymer.profile import profile, Profile`` working. The code is in
:mod:`pymer.inference.profile`."""
from .inference.profile import Profile, profile

__all__ = ["profile", "Profile"]
