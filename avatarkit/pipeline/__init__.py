"""The render pipeline and what runs it: a script's parts drawn here or on Ray, the cache of finished
renditions, and courses (one script in all its languages, packaged for an LMS).

`core` composes the stages (`Pipeline`, `render`); `parts` and `drawing` are one part's work, shared by
this machine and a Ray task (`scale`); `cache` keeps finished renditions; `course` renders every language.
"""

from .core import Pipeline, ProgressEvent, RenderResult, render

__all__ = ["Pipeline", "ProgressEvent", "RenderResult", "render"]
