"""Live presenters: text in as it arrives, a talking avatar's frames and sound out in real time.

`LiveSession` (the Python API) makes frames on demand; `live.webrtc` sends
them to a browser over WebRTC; `live.app` serves the page and the session
endpoints that `avatarkit live` and `avatarkit serve` share.
"""

from .clauses import Clause, ClauseCutter
from .session import LiveConfig, LiveError, LiveFrame, LiveSession, live_rig

__all__ = ["Clause", "ClauseCutter", "LiveConfig", "LiveError", "LiveFrame", "LiveSession", "live_rig"]
