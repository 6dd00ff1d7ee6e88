"""Work on a user's own recording: an avatar speaks it (`lipsync`), a filmed person is re-animated to it
(`dub`), or it is transcribed into captions (`transcribe`). Import from the modules; this package stays light.
"""
