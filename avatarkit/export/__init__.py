"""LMS packages of rendered videos: SCORM 1.2, SCORM 2004 4th edition, cmi5 and plain HTML5.

    from avatarkit.export import Rendition, export_package
    en = Rendition("en", Path("out/course.en.mp4"), Path("out/course.en.vtt"), "Welcome", 312.4)
    export_package([en], Path("course.zip"), format="scorm2004", course_id="welcome-101")

Every package carries the same accessible player (`player/`: plain HTML,
CSS and JavaScript, no third-party code) with one video and caption track
per language. The player counts the time actually watched and reports it
to whichever runtime launched it: the SCORM API of the LMS frame, a cmi5
LRS, or the browser's own storage.
"""

from .manifests import cmi5_xml, course_iri, scorm12_manifest, scorm2004_manifest
from .model import FORMATS, ExportError, ExportProgress, Rendition, language_name, text_direction
from .package import export_package, render_index

__all__ = [
    "FORMATS", "ExportError", "ExportProgress", "Rendition", "cmi5_xml", "course_iri", "export_package",
    "language_name", "render_index", "scorm12_manifest", "scorm2004_manifest", "text_direction",
]
